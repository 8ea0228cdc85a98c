package tandem.common.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.FakeHub;

/**
 * Downloads against a Hub stand-in on localhost: the real HTTP exchange, redirects, headers and
 * faults.
 */
class SnapshotDownloaderTest {
  static final String REPO = "tandem-test/tiny-vlm";
  static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
  static final String TOKEN = "hf_test_secret";

  @TempDir Path tmp;
  FakeHub hub;
  Map<String, byte[]> files;
  byte[] weights;
  final RecordingListener events = new RecordingListener();

  @BeforeEach
  void startHub() throws IOException {
    hub = new FakeHub();
    files = FakeHub.smallModelFiles(7);
    weights = files.get("model.safetensors");
    hub.addRepo(REPO, COMMIT, files);
  }

  @AfterEach
  void stopHub() {
    hub.close();
  }

  HubSettings settings(String token, boolean offline) {
    return new HubSettings(hub.endpoint(), token, tmp.resolve("hub"), offline);
  }

  SnapshotDownloader downloader(HubSettings s, int attempts) {
    return new SnapshotDownloader(
        new HubClient(s),
        new HubCache(s.cacheDir()),
        new SnapshotDownloader.Options(attempts, Duration.ofMillis(1)));
  }

  Path download(HubSettings s, int attempts) {
    return downloader(s, attempts).download(RepoRef.parse(REPO), FileSelection.serving(), events);
  }

  List<FakeHub.Request> cdnGets() {
    return hub.log().stream().filter(r -> r.path().startsWith("/cdn/")).toList();
  }

  @Test
  void aFullDownloadLaysOutTheSnapshotExactlyAsPythonDoes() throws IOException {
    Path snap = download(settings(null, false), 5);

    Path repoDir = tmp.resolve("hub").resolve("models--tandem-test--tiny-vlm");
    assertEquals(repoDir.resolve("snapshots").resolve(COMMIT).toAbsolutePath(), snap);
    assertEquals(
        COMMIT,
        Files.readString(repoDir.resolve("refs/main"))); // no trailing newline, as Python writes it
    for (String f :
        List.of(
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.jinja",
            "vision/preprocessor_config.json",
            "model.safetensors")) {
      Path p = snap.resolve(f);
      assertTrue(Files.isSymbolicLink(p), f + " is a symlink");
      String up = "../".repeat(f.split("/").length + 1);
      assertEquals(
          up + "blobs/" + FakeHub.etagOf(f, files.get(f)), Files.readSymbolicLink(p).toString());
      assertArrayEquals(files.get(f), Files.readAllBytes(p), f);
    }
    for (String skipped : List.of("README.md", "pytorch_model.bin", ".gitattributes")) {
      assertFalse(Files.exists(snap.resolve(skipped)), skipped + " is not needed for serving");
    }
    try (Stream<Path> blobs = Files.list(repoDir.resolve("blobs"))) {
      List<String> names = blobs.map(p -> p.getFileName().toString()).toList();
      assertEquals(7, names.size(), names.toString());
      assertTrue(names.stream().noneMatch(n -> n.endsWith(".incomplete")));
      assertTrue(names.contains(FakeHub.sha256(weights)), "the LFS blob is named by its sha256");
    }
    assertEquals(1, cdnGets().size(), "one CDN fetch for the one LFS file");
    assertNull(cdnGets().get(0).range());
    assertEquals(List.of(), HubCache.servingProblems(snap));
    assertTrue(events.has("planned 7 files"), events.toString());
  }

  @Test
  void aSecondDownloadFindsEveryBlobCachedAndFetchesNoBytes() {
    Path first = download(settings(null, false), 5);
    hub.clearLog();
    Path second = download(settings(null, false), 5);
    assertEquals(first, second);
    assertEquals(List.of(), cdnGets());
    assertTrue(
        hub.log().stream()
            .noneMatch(r -> r.method().equals("GET") && r.path().contains("/resolve/")));
    assertTrue(events.has("cached " + totalServingBytes()), events.toString());
  }

  @Test
  void aConnectionCutMidFileIsResumedWithARangeRequest() throws IOException {
    hub.cutOnce(weights, 600_000);
    Path snap = download(settings(null, false), 5);

    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    List<FakeHub.Request> gets = cdnGets();
    assertEquals(2, gets.size(), gets.toString());
    assertNull(gets.get(0).range());
    // The client keeps what reached it before the cut (TCP may lose some of the 600000 bytes the
    // server wrote).
    long resumedAt = Long.parseLong(gets.get(1).range().replaceAll("bytes=(\\d+)-", "$1"));
    assertTrue(resumedAt > 0 && resumedAt <= 600_000, "resumed at " + resumedAt);
    assertTrue(events.has("retry model.safetensors 1"), events.toString());
    assertTrue(events.has("start model.safetensors from " + resumedAt), events.toString());
  }

  @Test
  void anExpiredCdnLinkIsReplacedByAFreshOneFromTheHub() throws IOException {
    hub.expireOnce(weights);
    Path snap = download(settings(null, false), 5);
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertTrue(
        events.has(
            "retry model.safetensors 1 IOException: the download link was refused (HTTP 403"),
        events.toString());
    long heads =
        hub.log().stream()
            .filter(r -> r.method().equals("HEAD") && r.path().endsWith("/model.safetensors"))
            .count();
    assertEquals(2, heads, "asked the Hub again for the link");
  }

  @Test
  void aStalledConnectionIsDroppedAndResumed() throws IOException {
    hub.stallOnce(weights, 300_000);
    HubSettings s = settings(null, false);
    var d =
        new SnapshotDownloader(
            new HubClient(s, Duration.ofSeconds(5), Duration.ofMillis(400)),
            new HubCache(s.cacheDir()),
            new SnapshotDownloader.Options(3, Duration.ofMillis(1)));
    long t0 = System.nanoTime();
    Path snap = d.download(RepoRef.parse(REPO), FileSelection.serving(), events);
    long ms = (System.nanoTime() - t0) / 1_000_000;

    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertTrue(ms < 5000, "gave up on the silent connection after " + ms + " ms: " + events);
    assertTrue(events.has("retry model.safetensors 1 IOException: no data for"), events.toString());
    assertEquals(2, cdnGets().size());
    assertTrue(cdnGets().get(1).range().startsWith("bytes="), cdnGets().toString());
    assertFalse(Thread.currentThread().isInterrupted(), "the watchdog's interrupt does not leak");
  }

  @Test
  void anInterruptedDownloadLeavesAnIncompleteFileThatTheNextRunResumes() throws IOException {
    hub.cutOnce(weights, 700_000);
    HubException e = assertThrows(HubException.class, () -> download(settings(null, false), 1));
    assertEquals(HubException.Kind.NETWORK, e.kind());
    Path partial =
        tmp.resolve(
            "hub/models--tandem-test--tiny-vlm/blobs/" + FakeHub.sha256(weights) + ".incomplete");
    long kept = Files.size(partial);
    assertTrue(kept > 0 && kept <= 700_000, "kept " + kept);
    assertTrue(
        e.getMessage().contains("stopped at " + kept + " of " + weights.length), e.getMessage());
    assertTrue(e.getMessage().contains("again to resume"), e.getMessage());
    assertFalse(
        Files.exists(tmp.resolve("hub/models--tandem-test--tiny-vlm/refs/main")),
        "no ref before completion");

    hub.clearLog();
    Path snap = download(settings(null, false), 1);
    assertEquals("bytes=" + kept + "-", cdnGets().get(0).range());
    assertEquals(1, cdnGets().size());
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertFalse(Files.exists(partial));
  }

  @Test
  void aCorruptedFileIsDetectedByItsSha256AndFetchedAgain() throws IOException {
    hub.corrupt(weights, 1);
    Path snap = download(settings(null, false), 5);

    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertEquals(2, cdnGets().size(), "fetched whole twice");
    assertNull(cdnGets().get(1).range(), "the bad bytes were thrown away, not resumed");
    assertTrue(
        events.has("corrupted model.safetensors expected " + FakeHub.sha256(weights)),
        events.toString());
  }

  @Test
  void aFileCorruptedTwiceIsAnErrorAndNeverEntersTheCache() throws IOException {
    hub.corrupt(weights, 2);
    HubException e = assertThrows(HubException.class, () -> download(settings(null, false), 5));
    assertEquals(HubException.Kind.INTEGRITY, e.kind());
    assertTrue(e.getMessage().contains(FakeHub.sha256(weights)), e.getMessage());
    Path blobs = tmp.resolve("hub/models--tandem-test--tiny-vlm/blobs");
    assertFalse(Files.exists(blobs.resolve(FakeHub.sha256(weights))));
    assertFalse(Files.exists(blobs.resolve(FakeHub.sha256(weights) + ".incomplete")));
  }

  @Test
  void aCorruptedCachedPartialIsCaughtEvenWhenOnlyTheTailIsFetched() throws IOException {
    // A partial file left by an earlier run with a bad byte: the resumed file must fail its hash
    // and be refetched.
    Path blobs = Files.createDirectories(tmp.resolve("hub/models--tandem-test--tiny-vlm/blobs"));
    byte[] bad = java.util.Arrays.copyOf(weights, 500_000);
    bad[1234] ^= 1;
    Files.write(blobs.resolve(FakeHub.sha256(weights) + ".incomplete"), bad);

    Path snap = download(settings(null, false), 5);
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertEquals(
        List.of("bytes=500000-", "none"),
        cdnGets().stream().map(r -> String.valueOf(r.range()).replace("null", "none")).toList());
  }

  @Test
  void a401WithoutATokenExplainsThatHfTokenIsNeeded() {
    hub.requireToken(TOKEN);
    HubException e = assertThrows(HubException.class, () -> download(settings(null, false), 5));
    assertEquals(HubException.Kind.AUTH, e.kind());
    assertTrue(e.getMessage().contains("401"), e.getMessage());
    assertTrue(e.getMessage().contains("no token was sent"), e.getMessage());
    assertTrue(e.getMessage().contains("HF_TOKEN"), e.getMessage());
    assertTrue(e.getMessage().contains("private or gated, or it does not exist"), e.getMessage());
  }

  @Test
  void aCachedBlobOfTheRightSizeButWrongBytesIsCaughtByItsHashAndFetchedAgain() throws IOException {
    Path snap = download(settings(null, false), 5);
    Path blob = snap.resolve("model.safetensors").toRealPath();
    byte[] tampered = weights.clone();
    tampered[tampered.length / 2] ^= 0x5a; // same size: a size check alone would trust it
    Files.write(blob, tampered);
    hub.clearLog();
    download(settings(null, false), 5);
    assertTrue(
        events.has("corrupted model.safetensors expected " + FakeHub.sha256(weights)),
        events.toString());
    assertEquals(1, cdnGets().size(), "fetched again");
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
  }

  @Test
  void behindAMirrorWithoutContentHashEtagsFilesAreCheckedAgainstTheApisHashes()
      throws IOException {
    hub.mirrorEtags();
    Path snap = download(settings(null, false), 5);
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    // a download corrupted on the way is caught by the API's sha256, not trusted for its size
    hub.corrupt(weights, 2);
    HubSettings other = new HubSettings(hub.endpoint(), null, tmp.resolve("hub2"), false);
    HubException e =
        assertThrows(
            HubException.class,
            () ->
                downloader(other, 5)
                    .download(RepoRef.parse(REPO), FileSelection.serving(), events));
    assertEquals(HubException.Kind.INTEGRITY, e.kind());
  }

  @Test
  void aRejectedTokenIsToldApartFromAMissingOne() {
    hub.requireToken(TOKEN);
    HubException e =
        assertThrows(HubException.class, () -> download(settings("hf_wrong", false), 5));
    assertEquals(HubException.Kind.AUTH, e.kind());
    assertTrue(e.getMessage().contains("refused the token from HF_TOKEN"), e.getMessage());
    assertTrue(e.getMessage().contains("Invalid credentials"), e.getMessage());
  }

  @Test
  void theTokenGoesToTheHubButNeverToTheCdn() throws IOException {
    hub.requireToken(TOKEN);
    Path snap = download(settings(TOKEN, false), 5);
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    for (FakeHub.Request r : hub.log()) {
      if (r.path().startsWith("/cdn/"))
        assertNull(r.authorization(), "token leaked to " + r.path());
      else assertEquals("Bearer " + TOKEN, r.authorization(), r.path());
    }
  }

  @Test
  void offlineModeUsesACompleteCacheWithoutTouchingTheNetwork() {
    Path online = download(settings(null, false), 5);
    hub.close(); // nothing listens any more
    Path offline = download(settings(null, true), 5);
    assertEquals(online, offline);
    assertTrue(
        events.has("cache " + RepoRef.parse(REPO) + " HF_HUB_OFFLINE is set"), events.toString());
  }

  @Test
  void anUnreachableHubFallsBackToACompleteCache() {
    Path online = download(settings(null, false), 5);
    hub.close();
    Path again = download(settings(null, false), 2);
    assertEquals(online, again);
    assertTrue(events.has("cache " + RepoRef.parse(REPO) + " cannot reach"), events.toString());
  }

  @Test
  void offlineModeWithoutACacheSaysWhatToRun() {
    HubException e = assertThrows(HubException.class, () -> download(settings(null, true), 5));
    assertEquals(HubException.Kind.NOT_CACHED, e.kind());
    assertTrue(e.getMessage().contains("HF_HUB_OFFLINE is set"), e.getMessage());
    assertTrue(e.getMessage().contains("vlm download " + REPO), e.getMessage());
    assertTrue(hub.log().isEmpty(), "offline mode sent " + hub.log());
  }

  @Test
  void offlineModeWithAnIncompleteCacheListsWhatIsMissing() throws IOException {
    Path snap = download(settings(null, false), 5);
    Files.delete(tmp.resolve("hub/models--tandem-test--tiny-vlm/blobs/" + FakeHub.sha256(weights)));
    HubException e = assertThrows(HubException.class, () -> download(settings(null, true), 5));
    assertEquals(HubException.Kind.NOT_CACHED, e.kind());
    assertTrue(
        e.getMessage().contains("model.safetensors points to a missing blob"), e.getMessage());
    assertTrue(Files.isSymbolicLink(snap.resolve("model.safetensors")));
  }

  @Test
  void aCacheWrittenByPythonIsReusedOffline() throws IOException {
    // The layout huggingface_hub writes: blobs named by ETag, relative symlinks, refs/main holding
    // the commit.
    Path repo = tmp.resolve("hub/models--org--py-made");
    String commit = "fedcba9876543210fedcba9876543210fedcba98";
    byte[] config = FakeHub.utf8("{\"model_type\": \"py\"}");
    Files.createDirectories(repo.resolve("blobs"));
    Files.createDirectories(repo.resolve("refs"));
    Files.createDirectories(repo.resolve("snapshots/" + commit));
    Files.write(repo.resolve("blobs/" + FakeHub.gitSha1(config)), config);
    Files.write(repo.resolve("blobs/" + FakeHub.sha256(weights)), weights);
    Files.writeString(repo.resolve("refs/main"), commit);
    Files.createSymbolicLink(
        repo.resolve("snapshots/" + commit + "/config.json"),
        Path.of("../../blobs/" + FakeHub.gitSha1(config)));
    Files.createSymbolicLink(
        repo.resolve("snapshots/" + commit + "/model.safetensors"),
        Path.of("../../blobs/" + FakeHub.sha256(weights)));

    Path snap =
        downloader(settings(null, true), 5)
            .download(RepoRef.parse("org/py-made"), FileSelection.serving(), events);
    assertEquals(repo.resolve("snapshots/" + commit).toAbsolutePath(), snap);
    assertArrayEquals(config, Files.readAllBytes(snap.resolve("config.json")));
  }

  @Test
  void aRenamedRepositoryIsFollowedThroughItsRelativeRedirect() throws IOException {
    hub.rename("old-owner/tiny-vlm", REPO);
    Path snap =
        downloader(settings(null, false), 5)
            .download(RepoRef.parse("old-owner/tiny-vlm"), FileSelection.serving(), events);
    assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
    assertTrue(hub.log().stream().anyMatch(r -> r.path().startsWith("/" + REPO + "/resolve/")));
  }

  @Test
  void aCommitRevisionIsServedWithoutWritingARef() throws IOException {
    Path snap =
        downloader(settings(null, false), 5)
            .download(RepoRef.parse(REPO + "@" + COMMIT), FileSelection.serving(), events);
    assertTrue(snap.endsWith(COMMIT));
    assertFalse(Files.exists(tmp.resolve("hub/models--tandem-test--tiny-vlm/refs")));
  }

  @Test
  void anUnknownRevisionOrRepositoryIsA404ThatNamesIt() {
    HubException rev =
        assertThrows(
            HubException.class,
            () ->
                downloader(settings(null, false), 5)
                    .download(RepoRef.parse(REPO + "@nope"), FileSelection.serving(), events));
    assertEquals(HubException.Kind.NOT_FOUND, rev.kind());
    assertTrue(rev.getMessage().contains("revision 'nope' does not exist"), rev.getMessage());
    HubException repo =
        assertThrows(
            HubException.class,
            () ->
                downloader(settings(null, false), 5)
                    .download(RepoRef.parse("nobody/nothing"), FileSelection.serving(), events));
    assertEquals(HubException.Kind.NOT_FOUND, repo.kind());
    assertTrue(
        repo.getMessage().contains("repository nobody/nothing does not exist"), repo.getMessage());
  }

  @Test
  void includePatternsWidenWhatIsFetched() throws IOException {
    var sel = new FileSelection(List.of("*.json", "*.bin"));
    Path snap = downloader(settings(null, false), 5).download(RepoRef.parse(REPO), sel, events);
    assertArrayEquals(
        files.get("pytorch_model.bin"), Files.readAllBytes(snap.resolve("pytorch_model.bin")));
    assertFalse(Files.exists(snap.resolve("model.safetensors")));
  }

  @Test
  void theClientSendsHubUrlsWithTheRevisionEncoded() {
    HubClient c = new HubClient(settings(null, false));
    assertEquals(
        URI.create(hub.endpoint() + "/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%2Bb.json"),
        c.resolveUri(new RepoRef("org/name", "refs/pr/1"), "sub dir/a+b.json"));
  }

  private long totalServingBytes() {
    return files.entrySet().stream()
        .filter(e -> FileSelection.serving().matches(e.getKey()))
        .mapToLong(e -> e.getValue().length)
        .sum();
  }

  /** Keeps what the downloader reported, as short strings a test can look for. */
  static final class RecordingListener implements DownloadListener {
    final List<String> events = new ArrayList<>();

    boolean has(String prefix) {
      return events.stream().anyMatch(e -> e.startsWith(prefix));
    }

    @Override
    public void planned(RepoRef ref, String commit, int n, long totalBytes, long cachedBytes) {
      events.add("planned " + n + " files " + totalBytes + " bytes");
      events.add("cached " + cachedBytes);
    }

    @Override
    public void fileStarted(String file, long size, long resumeFrom) {
      events.add("start " + file + " from " + resumeFrom);
    }

    @Override
    public void retrying(String file, int attempt, String reason) {
      events.add("retry " + file + " " + attempt + " " + reason);
    }

    @Override
    public void corrupted(String file, String expected, String actual) {
      events.add("corrupted " + file + " expected " + expected + " got " + actual);
    }

    @Override
    public void usingCache(RepoRef ref, Path snapshot, String reason) {
      events.add("cache " + ref + " " + reason);
    }

    @Override
    public String toString() {
      return String.join("\n", events).replace(StandardCharsets.UTF_8.name(), "");
    }
  }
}
