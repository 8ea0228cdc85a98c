package tandem.common.hub;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns a {@code --model} argument into a local checkpoint folder: an existing folder is used as it
 * is; anything else is read as a Hub repository {@code org/name[@revision]} and answered with its
 * cached snapshot, downloaded (or completed) first unless {@code HF_HUB_OFFLINE} is set.
 */
public final class ModelResolver {
  private final SnapshotDownloader downloader;
  private final FileSelection selection;
  private final DownloadListener listener;

  public ModelResolver(
      SnapshotDownloader downloader, FileSelection selection, DownloadListener listener) {
    this.downloader = downloader;
    this.selection = selection;
    this.listener = listener;
  }

  /** Resolves with the process environment (HF_* variables) and progress on stderr. */
  public static Path resolve(String modelArg) {
    HubSettings settings = HubSettings.fromEnvironment();
    ProgressPrinter progress = ProgressPrinter.stderr();
    try {
      return new ModelResolver(new SnapshotDownloader(settings), FileSelection.serving(), progress)
          .locate(modelArg);
    } finally {
      progress.clearLine();
    }
  }

  public Path locate(String modelArg) {
    if (modelArg == null || modelArg.isBlank()) {
      throw new IllegalArgumentException(
          "no model given: pass a checkpoint folder or a Hub id such as org/name");
    }
    String arg = modelArg.trim();
    Path p =
        Path.of(arg.startsWith("~/") ? System.getProperty("user.home") + arg.substring(1) : arg);
    if (Files.isDirectory(p)) return p.toAbsolutePath();
    if (Files.exists(p)) {
      throw new IllegalArgumentException(
          arg + " is a file; the model must be a checkpoint folder or a Hub id org/name");
    }
    if (pathLike(arg, p) || !RepoRef.looksLikeRepoId(arg)) {
      throw new IllegalArgumentException(
          "no folder "
              + p.toAbsolutePath()
              + ", and '"
              + arg
              + "' is not a Hub repository id (org/name[@revision])");
    }
    return downloader.download(RepoRef.parse(arg), selection, listener);
  }

  /**
   * True when a missing {@code arg} was meant as a folder: absolute, relative to . or ~, with a
   * path separator a repo id cannot have, or under a folder that exists here (checkpoints/tiny when
   * ./checkpoints exists). Such a typo must be an error, never a Hub lookup (which could download
   * someone else's repository of that name).
   */
  static boolean pathLike(String arg, Path p) {
    if (arg.startsWith("/")
        || arg.startsWith(".")
        || arg.startsWith("~")
        || arg.contains("\\")
        || arg.endsWith("/")
        || arg.contains("//")) {
      return true;
    }
    String head = arg.contains("@") ? arg.substring(0, arg.indexOf('@')) : arg;
    if (head.chars().filter(c -> c == '/').count() > 1) return true;
    Path parent = Path.of(head).getParent();
    return parent != null && Files.isDirectory(parent);
  }
}
