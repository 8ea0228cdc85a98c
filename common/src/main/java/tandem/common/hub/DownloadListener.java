package tandem.common.hub;

import java.nio.file.Path;

/**
 * Hears what a snapshot download does, for progress display and logs. Every method has a do-nothing
 * default.
 */
public interface DownloadListener {
  DownloadListener NONE = new DownloadListener() {};

  /**
   * The plan: {@code files} to have, {@code totalBytes} of them, {@code cachedBytes} already
   * present in the cache.
   */
  default void planned(RepoRef ref, String commit, int files, long totalBytes, long cachedBytes) {}

  /**
   * A file's bytes start to flow; {@code resumeFrom} bytes were already on disk from an earlier
   * attempt.
   */
  default void fileStarted(String file, long size, long resumeFrom) {}

  /** {@code n} more bytes arrived. */
  default void bytes(long n) {}

  /** An attempt failed and will be retried (resuming where it stopped). */
  default void retrying(String file, int attempt, String reason) {}

  /** The downloaded bytes did not hash to what the Hub announced; the file is fetched again. */
  default void corrupted(String file, String expected, String actual) {}

  default void fileDone(String file) {}

  /** The Hub could not be reached and a complete cached snapshot is used instead. */
  default void usingCache(RepoRef ref, Path snapshot, String reason) {}

  default void finished(Path snapshot) {}
}
