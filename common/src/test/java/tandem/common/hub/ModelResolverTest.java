package tandem.common.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.FakeHub;

class ModelResolverTest {
  static final String REPO = "org/tiny";
  static final String COMMIT = "1111111111222222222233333333334444444444";

  @TempDir Path tmp;
  FakeHub hub;
  Map<String, byte[]> files;

  @BeforeEach
  void start() throws Exception {
    hub = new FakeHub();
    files = FakeHub.smallModelFiles(5);
    hub.addRepo(REPO, COMMIT, files);
  }

  @AfterEach
  void stop() {
    hub.close();
  }

  ModelResolver resolver(boolean offline) {
    HubSettings s = new HubSettings(hub.endpoint(), null, tmp.resolve("cache"), offline);
    SnapshotDownloader d =
        new SnapshotDownloader(
            new HubClient(s),
            new HubCache(s.cacheDir()),
            new SnapshotDownloader.Options(3, Duration.ofMillis(1)));
    return new ModelResolver(d, FileSelection.serving(), DownloadListener.NONE);
  }

  @Test
  void anExistingFolderIsUsedAsItIsWithoutAskingTheHub() throws Exception {
    Path folder =
        Files.createDirectories(tmp.resolve("org/tiny")); // even when it looks like a repo id
    assertEquals(folder.toAbsolutePath(), resolver(false).locate(folder.toString()));
    assertTrue(hub.log().isEmpty());
  }

  @Test
  void aRepoIdIsDownloadedAndThenServedFromTheCacheOffline() throws Exception {
    Path snap = resolver(false).locate(REPO);
    assertArrayEquals(files.get("config.json"), Files.readAllBytes(snap.resolve("config.json")));
    hub.close();
    assertEquals(snap, resolver(true).locate(REPO + "@main"));
  }

  @Test
  void aMissingPathIsNotMistakenForARepoId() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> resolver(false).locate("./no/such/folder"));
    assertTrue(e.getMessage().contains("no folder"), e.getMessage());
    assertTrue(e.getMessage().contains("not a Hub repository id"), e.getMessage());
  }

  @Test
  void aMissingRelativeFolderUnderAnExistingOneIsAnErrorNeverAHubLookup() throws Exception {
    // "src/tinyy" has the form of a repo id, but ./src exists (the module folder is the tests'
    // working directory),
    // so it is a folder path with a typo in it; the others cannot be repo ids at all
    assertTrue(Files.isDirectory(Path.of("src")), "the test runs in the module folder");
    for (String a : List.of("src/tinyy", "checkpoints//tiny", "a/b/c", "org/tiny/")) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> resolver(false).locate(a));
      assertTrue(e.getMessage().contains("no folder"), a + ": " + e.getMessage());
    }
    assertTrue(hub.log().isEmpty(), "the Hub was never asked: " + hub.log());
    // a repo id whose first part is no local folder still goes to the Hub
    assertEquals(resolver(false).locate(REPO).getFileName().toString(), COMMIT);
  }

  @Test
  void offlineACachedBlobWhoseBytesNoLongerMatchItsHashIsNotServed() throws Exception {
    Path snap = resolver(false).locate(REPO);
    Path blob = snap.resolve("model.safetensors").toRealPath();
    byte[] b = Files.readAllBytes(blob);
    b[b.length / 2] ^= 0x11; // same size, different bytes
    Files.write(blob, b);
    hub.close();
    RuntimeException e = assertThrows(RuntimeException.class, () -> resolver(true).locate(REPO));
    assertTrue(
        e.getMessage().contains("model.safetensors does not match its hash"), e.getMessage());
  }

  @Test
  void aFileIsRefusedBecauseAModelIsAFolder() throws Exception {
    Path f = Files.writeString(tmp.resolve("model.safetensors"), "x");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> resolver(false).locate(f.toString()));
    assertTrue(e.getMessage().contains("is a file"), e.getMessage());
  }

  @Test
  void concurrentResolversShareOneDownloadAndAllGetSymlinks() throws Exception {
    hub.slowCdn(20); // ~0.5 s for the weights: the three resolvers overlap for sure
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      List<Future<Path>> results = new ArrayList<>();
      for (int i = 0; i < 3; i++)
        results.add(pool.submit((Callable<Path>) () -> resolver(false).locate(REPO)));
      List<Path> snaps = new ArrayList<>();
      for (Future<Path> f : results) snaps.add(f.get());
      assertEquals(1, snaps.stream().distinct().count(), snaps.toString());
      Path w = snaps.get(0).resolve("model.safetensors");
      assertArrayEquals(files.get("model.safetensors"), Files.readAllBytes(w));
      assertTrue(Files.isSymbolicLink(w), "still a link, not a copy, after concurrent linking");
      long cdnGets = hub.log().stream().filter(r -> r.path().startsWith("/cdn/")).count();
      assertEquals(
          1, cdnGets, "the blob lock made the others wait and reuse the first one's bytes");
      try (var names = Files.list(snaps.get(0))) {
        assertTrue(
            names.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")),
            "no temporary links left");
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
