package tandem.common.hub;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Brings a repository revision into the hub cache and returns its snapshot folder: lists the files
 * (Hub API), keeps those the {@link FileSelection} wants, asks each file's blob name and size
 * (HEAD), and downloads the blobs that are not cached yet, resuming from {@code .incomplete} files.
 * Every finished blob is checked against the Hub's hash before it enters the cache: the LFS sha256
 * for large files, the git blob sha1 for small ones. A mismatch throws the bytes away and fetches
 * the file once more; a second mismatch is an error.
 *
 * <p>Offline ({@code HF_HUB_OFFLINE}), or when the Hub cannot be reached, a complete cached
 * snapshot of the revision is returned instead; an incomplete one is an error that lists what is
 * missing.
 */
public final class SnapshotDownloader {
  /**
   * @param maxAttempts tries per file (and per metadata call) on network failures before giving up;
   *     the partial file stays, so a later run resumes
   * @param backoff wait before the first retry, doubled for each further one (capped at 8 s)
   */
  public record Options(int maxAttempts, Duration backoff) {
    public Options {
      if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be at least 1");
    }

    public static Options defaults() {
      return new Options(5, Duration.ofMillis(500));
    }
  }

  /** Blobs being downloaded by this JVM: the OS file lock only excludes other processes. */
  private static final Map<Path, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();

  private final HubClient client;
  private final HubCache cache;
  private final Options options;

  public SnapshotDownloader(HubClient client, HubCache cache, Options options) {
    this.client = client;
    this.cache = cache;
    this.options = options;
  }

  public SnapshotDownloader(HubSettings settings) {
    this(new HubClient(settings), new HubCache(settings.cacheDir()), Options.defaults());
  }

  public HubCache cache() {
    return cache;
  }

  public Path download(RepoRef ref, FileSelection selection, DownloadListener listener) {
    if (client.settings().offline()) {
      return cachedOrFail(ref, HubSettings.ENV_OFFLINE + " is set", listener, false);
    }
    HubClient.RepoInfo info;
    try {
      info = retrying("listing " + ref, listener, () -> client.repoInfo(ref));
    } catch (IOException e) {
      return cachedOrFail(
          ref,
          "cannot reach " + client.settings().endpoint() + " (" + describe(e) + ")",
          listener,
          true);
    }
    String commit = info.commit();
    RepoRef atCommit = ref.withRevision(commit);
    List<String> files = selection.select(info.files());
    if (files.isEmpty()) {
      throw new HubException(
          HubException.Kind.NOT_FOUND,
          ref
              + " has no file matching "
              + selection.patterns()
              + "; its files are "
              + info.files());
    }
    try {
      List<HubClient.FileMeta> metas = new ArrayList<>();
      long total = 0;
      long cached = 0;
      for (String f : files) {
        HubCache.checkRepoFilename(f);
        HubClient.FileMeta m =
            retrying("metadata of " + f, listener, () -> client.fileMetadata(atCommit, f));
        metas.add(m);
        total += m.size();
        if (blobPresent(atCommit, m)) cached += m.size();
      }
      listener.planned(ref, commit, files.size(), total, cached);
      for (int i = 0; i < files.size(); i++) {
        ensure(atCommit, files.get(i), metas.get(i), info.hashes().get(files.get(i)), listener);
      }
      cache.writeRef(ref, commit);
    } catch (IOException e) {
      if (e instanceof InterruptedIOException)
        throw new HubException(HubException.Kind.NETWORK, "interrupted", e);
      throw new HubException(
          HubException.Kind.NETWORK,
          "cannot reach "
              + client.settings().endpoint()
              + " ("
              + describe(e)
              + ") while downloading "
              + ref
              + "; run again to resume",
          e);
    }
    Path snapshot = cache.snapshotDir(atCommit, commit);
    listener.finished(snapshot);
    return snapshot;
  }

  private Path cachedOrFail(
      RepoRef ref, String why, DownloadListener listener, boolean networkFailed) {
    var snapshot = cache.snapshotFor(ref);
    List<String> problems =
        snapshot
            .map(HubCache::servingProblems)
            .orElse(List.of("no snapshot of it in " + cache.root()));
    if (snapshot.isPresent() && problems.isEmpty()) {
      listener.usingCache(ref, snapshot.get(), why);
      listener.finished(snapshot.get());
      return snapshot.get();
    }
    String command =
        "vlm download "
            + ref.repoId()
            + (ref.revision().equals(RepoRef.DEFAULT_REVISION)
                ? ""
                : " --revision " + ref.revision());
    String fix =
        networkFailed
            ? "check the network and " + HubSettings.ENV_ENDPOINT + ", then run `" + command + "`"
            : "run `" + command + "` while online, or unset " + HubSettings.ENV_OFFLINE;
    throw new HubException(
        networkFailed ? HubException.Kind.NETWORK : HubException.Kind.NOT_CACHED,
        why
            + " and the cache has no complete copy of "
            + ref
            + ": "
            + String.join("; ", problems)
            + "; "
            + fix);
  }

  private boolean blobPresent(RepoRef ref, HubClient.FileMeta m) throws IOException {
    Path blob = cache.blobPath(ref, m.etag());
    return Files.isRegularFile(blob) && Files.size(blob) == m.size();
  }

  private void ensure(
      RepoRef atCommit,
      String file,
      HubClient.FileMeta meta,
      String apiHash,
      DownloadListener listener)
      throws IOException {
    String commit = atCommit.revision();
    Path blob = cache.blobPath(atCommit, meta.etag());
    Files.createDirectories(blob.getParent());
    try (BlobLock ignored = BlobLock.acquire(cache.lockPath(atCommit, meta.etag()))) {
      if (blobPresent(atCommit, meta)) {
        // a cached blob of the right size may still be damaged or swapped: when the ETag is its
        // hash, check it again
        String actual = mismatch(blob, meta, apiHash);
        if (actual != null) {
          listener.corrupted(file, meta.etag(), actual);
          Files.delete(blob);
        }
      }
      if (!blobPresent(atCommit, meta)) fetchVerified(atCommit, file, meta, apiHash, listener);
    }
    try {
      cache.link(atCommit, commit, file, meta.etag());
    } catch (IOException e) {
      throw new HubException(
          HubException.Kind.LOCAL_IO,
          "cannot link " + file + " into " + cache.root() + ": " + e,
          e);
    }
    listener.fileDone(file);
  }

  private void fetchVerified(
      RepoRef atCommit,
      String file,
      HubClient.FileMeta meta,
      String apiHash,
      DownloadListener listener)
      throws IOException {
    Path part = cache.incompletePath(atCommit, meta.etag());
    Path blob = cache.blobPath(atCommit, meta.etag());
    URI location = meta.location();
    int failures = 0;
    int corrupt = 0;
    while (true) {
      long have = Files.exists(part) ? Files.size(part) : 0;
      if (have > meta.size()) {
        Files.delete(part);
        have = 0;
      }
      listener.fileStarted(file, meta.size(), have);
      if (have < meta.size() || !Files.exists(part)) {
        try {
          client.fetch(location, part, have, meta.size(), listener::bytes);
        } catch (InterruptedIOException e) {
          throw e;
        } catch (IOException e) {
          failures++;
          long now = Files.exists(part) ? Files.size(part) : 0;
          if (failures >= options.maxAttempts()) {
            throw new HubException(
                HubException.Kind.NETWORK,
                "download of "
                    + file
                    + " stopped at "
                    + now
                    + " of "
                    + meta.size()
                    + " bytes after "
                    + failures
                    + " attempt(s): "
                    + describe(e)
                    + "; run the same command again to resume from there",
                e);
          }
          listener.retrying(file, failures, describe(e));
          sleep(failures);
          // A CDN link may be signed for a short time: ask for a fresh one before resuming.
          try {
            location = client.fileMetadata(atCommit, file).location();
          } catch (IOException ignored) {
            // keep the old link; the next fetch will tell
          }
          continue;
        }
      }
      String actual = mismatch(part, meta, apiHash);
      if (actual == null) {
        HubCache.moveReplacing(part, blob);
        return;
      }
      corrupt++;
      listener.corrupted(file, meta.etag(), actual);
      Files.deleteIfExists(part);
      if (corrupt >= 2) {
        throw new HubException(
            HubException.Kind.INTEGRITY,
            file
                + " of "
                + atCommit
                + " hashed to "
                + actual
                + " twice, but the Hub announced "
                + meta.etag()
                + "; the download is corrupted on the way (proxy?) and was not stored");
      }
    }
  }

  /** Null when the file matches its ETag, else the hash it has (same algorithm as the ETag). */
  static String mismatch(Path file, HubClient.FileMeta meta) throws IOException {
    return mismatch(file, meta, null);
  }

  /**
   * As above; when the ETag is not a content hash (a mirror's own ETag), {@code apiHash} — the
   * file's hash from the repository API — is checked instead. Only with neither is the size all
   * that can be checked.
   */
  static String mismatch(Path file, HubClient.FileMeta meta, String apiHash) throws IOException {
    String expected =
        isContentHash(meta.etag()) ? meta.etag() : isContentHash(apiHash) ? apiHash : null;
    if (expected == null) return null;
    String actual =
        expected.length() == 64
            ? digest(file, "SHA-256", null)
            : digest(file, "SHA-1", "blob " + Files.size(file) + "\0");
    return actual.equals(expected) ? null : actual;
  }

  static boolean isContentHash(String s) {
    return s != null && (s.matches("[0-9a-f]{64}") || s.matches("[0-9a-f]{40}"));
  }

  /** Hex digest of the file, with an optional header (git hashes "blob {size}\0" + content). */
  static String digest(Path file, String algorithm, String header) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance(algorithm);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    if (header != null) md.update(header.getBytes(StandardCharsets.UTF_8));
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 20];
      int n;
      while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private interface IoCall<T> {
    T call() throws IOException;
  }

  private <T> T retrying(String what, DownloadListener listener, IoCall<T> call)
      throws IOException {
    int attempts = Math.min(options.maxAttempts(), 3);
    for (int i = 1; ; i++) {
      try {
        return call.call();
      } catch (HubException | InterruptedIOException e) {
        throw e;
      } catch (IOException e) {
        if (i >= attempts) throw e;
        listener.retrying(what, i, describe(e));
        sleep(i);
      }
    }
  }

  private void sleep(int failures) throws InterruptedIOException {
    long ms = Math.min(8000, options.backoff().toMillis() << Math.min(failures - 1, 10));
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting to retry");
    }
  }

  private static String describe(IOException e) {
    String m = e.getMessage();
    String name = e.getClass().getSimpleName();
    // The JDK's messages are terse ("closed", null): the class name says what kind of failure it
    // was.
    return m == null || m.isBlank() ? name : name + ": " + m;
  }

  /** An OS lock (other processes) plus an in-JVM lock (other threads) on one blob. */
  private static final class BlobLock implements AutoCloseable {
    private final ReentrantLock local;
    private final FileChannel channel;
    private final FileLock lock;

    private BlobLock(ReentrantLock local, FileChannel channel, FileLock lock) {
      this.local = local;
      this.channel = channel;
      this.lock = lock;
    }

    static BlobLock acquire(Path lockFile) throws IOException {
      ReentrantLock local =
          IN_PROCESS.computeIfAbsent(lockFile.toAbsolutePath(), k -> new ReentrantLock());
      local.lock();
      try {
        Files.createDirectories(lockFile.getParent());
        FileChannel ch =
            FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
          return new BlobLock(local, ch, ch.lock());
        } catch (IOException e) {
          // Some network file systems have no lock service (ENOLCK). Going on unlocked is still
          // safe: every writer
          // works on the .incomplete file and renames a verified blob into place; the worst case is
          // double work.
          return new BlobLock(local, ch, null);
        } catch (RuntimeException e) {
          ch.close();
          throw e;
        }
      } catch (IOException | RuntimeException e) {
        local.unlock();
        throw e;
      }
    }

    @Override
    public void close() throws IOException {
      try {
        if (lock != null) lock.release();
        channel.close();
      } finally {
        local.unlock();
      }
    }
  }
}
