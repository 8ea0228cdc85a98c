package tandem.common.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import tandem.common.checkpoint.CheckpointGenerator;

/**
 * Tiny random-weight checkpoints for tests, rebuilt from the fixtures' config + TRW-1 seed (never
 * downloaded). Each is generated once per JVM into a temporary folder that is deleted at exit.
 * Every tensor reproduces the SHA-256 in the fixture's tensors.json (checked by
 * CheckpointGeneratorTest).
 */
public final class TinyCheckpoints {
  private TinyCheckpoints() {}

  private static Path root;
  private static Path decoder;
  private static Path vision;
  private static Path vlm;

  /**
   * fixtures/decoder-tiny (Qwen3ForCausalLM, seed 1234) with tokenizer.json and
   * tokenizer_config.json.
   */
  public static synchronized Path decoderTiny() {
    if (decoder == null) decoder = build("decoder-tiny", "decoder-tiny");
    return decoder;
  }

  /** fixtures/vision-tiny (vision tower + connector only, seed 4242). */
  public static synchronized Path visionTiny() {
    if (vision == null) vision = build("vision-tiny", "vision-tiny");
    return vision;
  }

  /**
   * fixtures/vlm-tiny/checkpoint (seed 4711 + its row gain) with all processor and tokenizer files.
   */
  public static synchronized Path vlmTiny() {
    if (vlm == null) vlm = build("vlm-tiny/checkpoint", "vlm-tiny");
    return vlm;
  }

  private static Path build(String fixture, String name) {
    try {
      Path src = Fixtures.path(fixture);
      Path out = tempRoot().resolve(name);
      CheckpointGenerator.generate(
          src.resolve("config.json"),
          out,
          CheckpointGenerator.Options.fromTrw1Json(src.resolve("trw1.json")));
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot build tiny checkpoint " + name, e);
    }
  }

  private static Path tempRoot() throws IOException {
    if (root == null) {
      root = Files.createTempDirectory("tandem-tiny-");
      Path r = root;
      Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(r)));
    }
    return root;
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort at JVM exit
    }
  }
}
