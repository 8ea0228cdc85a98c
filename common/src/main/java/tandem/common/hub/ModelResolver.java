package tandem.common.hub;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns a {@code --model} argument into a local checkpoint folder: an existing folder is used as it is; anything
 * else is read as a Hub repository {@code org/name[@revision]} and answered with its cached snapshot, downloaded
 * (or completed) first unless {@code HF_HUB_OFFLINE} is set.
 */
public final class ModelResolver {
  private final SnapshotDownloader downloader;
  private final FileSelection selection;
  private final DownloadListener listener;

  public ModelResolver(SnapshotDownloader downloader, FileSelection selection, DownloadListener listener) {
    this.downloader = downloader;
    this.selection = selection;
    this.listener = listener;
  }

  /** Resolves with the process environment (HF_* variables) and progress on stderr. */
  public static Path resolve(String modelArg) {
    HubSettings settings = HubSettings.fromEnvironment();
    ProgressPrinter progress = ProgressPrinter.stderr();
    try {
      return new ModelResolver(new SnapshotDownloader(settings), FileSelection.serving(), progress).locate(modelArg);
    } finally {
      progress.clearLine();
    }
  }

  public Path locate(String modelArg) {
    if (modelArg == null || modelArg.isBlank()) {
      throw new IllegalArgumentException("no model given: pass a checkpoint folder or a Hub id such as org/name");
    }
    String arg = modelArg.trim();
    Path p = Path.of(arg.startsWith("~/") ? System.getProperty("user.home") + arg.substring(1) : arg);
    if (Files.isDirectory(p)) return p.toAbsolutePath();
    if (Files.exists(p)) {
      throw new IllegalArgumentException(arg + " is a file; the model must be a checkpoint folder or a Hub id org/name");
    }
    boolean pathLike = arg.startsWith("/") || arg.startsWith(".") || arg.startsWith("~");
    if (pathLike || !RepoRef.looksLikeRepoId(arg)) {
      throw new IllegalArgumentException(
          "no folder " + p.toAbsolutePath() + ", and '" + arg + "' is not a Hub repository id (org/name[@revision])");
    }
    return downloader.download(RepoRef.parse(arg), selection, listener);
  }
}
