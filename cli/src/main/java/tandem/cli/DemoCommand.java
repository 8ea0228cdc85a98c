package tandem.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tandem.common.checkpoint.CheckpointGenerator;

/**
 * {@code vlm demo}: the README's first command. Runs the whole pipeline (embedded gateway + vision
 * + decoder) on one image. With no {@code --model} it generates a tiny checkpoint with random
 * weights first (offline, a few seconds) and says so loudly: the pipeline is real, the words are
 * not.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description =
        "Chat about an image end to end in one process (random-weight checkpoint unless --model is"
            + " given).")
public final class DemoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      description =
          "Checkpoint folder or Hugging Face repo id (default: a generated tiny random-weight"
              + " checkpoint).")
  String model;

  @Option(names = "--image", description = "Image to ask about (default: a bundled photo).")
  Path image;

  @Option(
      names = "--max-new-tokens",
      description = "Tokens to generate (default: ${DEFAULT-VALUE}).",
      defaultValue = "32")
  int maxNewTokens;

  @Option(
      names = "--out",
      description = "Where to write the image with boxes drawn (default: a temp file).")
  Path out;

  @Parameters(
      arity = "0..1",
      paramLabel = "QUESTION",
      defaultValue = "检测图片中的杯子",
      description = "The question (default: ${DEFAULT-VALUE}).")
  String question;

  @Override
  public Integer call() throws Exception {
    var err = spec.commandLine().getErr();
    String m = model;
    if (m == null) {
      Path dir = demoCheckpoint();
      err.println("vlm demo: no --model given, so this runs on " + dir);
      err.println(
          "vlm demo: a GENERATED checkpoint with RANDOM weights (tiny preset, TRW-1 seed 1): every"
              + " stage runs");
      err.println(
          "vlm demo: for real (decode, tiles, vision tower, prompt, decoder, boxes) but the text is"
              + " meaningless.");
      err.println("vlm demo: pass --model DIR (or a Hugging Face id) for the real model.");
      m = dir.toString();
    }
    Path img = image != null ? image : bundledImage();
    Path o = out != null ? out : Files.createTempFile("vlm-demo-", ".boxes.png");
    List<String> args =
        new ArrayList<>(
            List.of(
                "chat",
                "--model",
                m,
                "--image",
                img.toString(),
                "--out",
                o.toString(),
                "--max-new-tokens",
                Integer.toString(maxNewTokens),
                question));
    return Vlm.commandLine().execute(args.toArray(String[]::new));
  }

  /**
   * ~/.cache/tandem/demo-tiny-seed1 (or $TANDEM_CACHE/…), generated once; a half-written one is
   * replaced.
   */
  static Path demoCheckpoint() throws IOException {
    String base =
        System.getenv()
            .getOrDefault("TANDEM_CACHE", System.getProperty("user.home") + "/.cache/tandem");
    Path dir = Path.of(base, "demo-tiny-seed1");
    if (Files.exists(dir.resolve(".complete"))) return dir;
    Path tmp =
        Files.createDirectories(Path.of(base))
            .resolve("demo-tiny-seed1.tmp-" + ProcessHandle.current().pid());
    CheckpointGenerator.generate(
        CheckpointGenerator.Preset.TINY, tmp, new CheckpointGenerator.Options(1L));
    Files.writeString(tmp.resolve(".complete"), "");
    if (Files.exists(dir)) deleteTree(dir);
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    return dir;
  }

  private static Path bundledImage() throws IOException {
    Path p = Files.createTempFile("vlm-demo-", ".png");
    try (InputStream in = DemoCommand.class.getResourceAsStream("/tandem/demo/coffee.png")) {
      if (in == null) throw new IOException("the bundled demo image is missing from the build");
      Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
    }
    p.toFile().deleteOnExit();
    return p;
  }

  private static void deleteTree(Path dir) throws IOException {
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList())
        Files.deleteIfExists(p);
    }
  }
}
