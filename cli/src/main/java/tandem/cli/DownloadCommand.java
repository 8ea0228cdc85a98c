package tandem.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tandem.common.hub.FileSelection;
import tandem.common.hub.HubSettings;
import tandem.common.hub.ProgressPrinter;
import tandem.common.hub.RepoRef;
import tandem.common.hub.SnapshotDownloader;

/**
 * {@code vlm download REPO_ID}: fetch what serving needs from the Hugging Face Hub into the
 * standard cache.
 */
@Command(
    name = "download",
    mixinStandardHelpOptions = true,
    description = {
      "Download a model repository from the Hugging Face Hub into the Hugging Face cache"
          + " (models--org--name/snapshots/<commit>/...), shared with Python tools.",
      "Fetches *.json, *.safetensors, tokenizer*, *.jinja and *.txt; resumes interrupted downloads;"
          + " checks every file against the Hub's hash. Progress goes to stderr; the last line on"
          + " stdout is the snapshot folder.",
      "Environment: HF_TOKEN, HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE (see"
          + " docs/download.md)."
    })
public final class DownloadCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "REPO_ID",
      description = "Repository id org/name, optionally org/name@revision.")
  String repo;

  @Option(
      names = "--revision",
      paramLabel = "R",
      description = "Branch, tag or commit (default: main).")
  String revision;

  @Option(
      names = "--dir",
      paramLabel = "D",
      description =
          "Cache root to use instead of HF_HUB_CACHE / $HF_HOME/hub (the folder that holds"
              + " models--*).")
  Path dir;

  @Option(
      names = "--include",
      paramLabel = "GLOB",
      description = "Also fetch files matching GLOB (fnmatch style, e.g. '*.bin'); repeatable.")
  List<String> include = new ArrayList<>();

  // Seams for tests: the environment and where progress goes.
  Map<String, String> env = System.getenv();
  PrintStream progress;

  @Override
  public Integer call() {
    RepoRef ref;
    try {
      ref = RepoRef.parse(repo);
      if (revision != null) {
        if (repo.contains("@") && !ref.revision().equals(revision)) {
          throw new UserError(
              "revision given twice: '" + repo + "' and --revision " + revision + "; use one");
        }
        ref = ref.withRevision(revision);
      }
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    HubSettings settings;
    try {
      settings = HubSettings.fromEnv(env, Path.of(System.getProperty("user.home")));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    if (dir != null) settings = settings.withCacheDir(dir);
    List<String> patterns = new ArrayList<>(FileSelection.SERVING);
    patterns.addAll(include);
    FileSelection selection;
    try {
      selection = new FileSelection(patterns);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    ProgressPrinter printer =
        progress == null
            ? ProgressPrinter.stderr()
            : new ProgressPrinter(progress, false, System::nanoTime, 5_000_000_000L);
    Path snapshot;
    try {
      snapshot = new SnapshotDownloader(settings).download(ref, selection, printer);
    } finally {
      printer.clearLine();
    }
    spec.commandLine().getOut().println(snapshot);
    spec.commandLine().getOut().flush();
    return 0;
  }
}
