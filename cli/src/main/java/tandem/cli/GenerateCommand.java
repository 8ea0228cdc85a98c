package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.io.Npy;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Greedy;
import tandem.decoder.model.Qwen3ForCausalLM;

/**
 * {@code vlm generate}: plain greedy decoding of token ids on a checkpoint's text model (argmax,
 * ties to the lowest id, no logits processors, no stopping). The last stdout line is {@code
 * {"ids":[...]}} with the new ids only.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description =
        "Greedy-decode token ids with the checkpoint's text model; prints {\"ids\":[...]} last.")
public final class GenerateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      required = true,
      description = "checkpoint folder (config.json + model.safetensors)")
  Path model;

  @Option(names = "--input-ids", required = true, description = "prompt token ids, comma-separated")
  String inputIds;

  @Option(
      names = "--max-new-tokens",
      defaultValue = "32",
      description = "ids to generate (default ${DEFAULT-VALUE})")
  int maxNewTokens;

  @Option(
      names = "--logits-out",
      description = "write the last prompt position's float32 logits [vocab] here (.npy)")
  Path logitsOut;

  @Option(
      names = "--device",
      defaultValue = "cpu",
      description = "cpu or cuda (default ${DEFAULT-VALUE})")
  String device;

  @Option(
      names = "--kv-cache-dtype",
      defaultValue = "f32",
      description =
          "KV storage: f32 (a reference run: float32 throughout) or bf16, the server's default"
              + " (default ${DEFAULT-VALUE})")
  String kvCacheDtype;

  @Override
  public Integer call() throws Exception {
    int[] ids = parseIds(inputIds);
    if (maxNewTokens < 0) throw new UserError("--max-new-tokens must be >= 0, got " + maxNewTokens);
    checkModelDir(model);
    DecoderOptions opts;
    try {
      opts =
          new DecoderOptions(
                  deviceOption(device), "float32", 1, ids.length + Math.max(1, maxNewTokens))
              .withKvCache(0, kvCacheDtype, false);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(model, opts)) {
      for (int id : ids) {
        if (id >= lm.vocabSize()) {
          throw new UserError(
              "input id " + id + " is outside the vocabulary [0, " + lm.vocabSize() + ")");
        }
      }
      Greedy.Result r = Greedy.generate(lm, 0, ids, maxNewTokens);
      if (logitsOut != null) Npy.writeFloat32(logitsOut, r.promptLogits(), r.promptLogits().length);
      spec.commandLine()
          .getOut()
          .println(
              "{\"ids\":["
                  + Arrays.stream(r.ids())
                      .mapToObj(Integer::toString)
                      .collect(Collectors.joining(","))
                  + "]}");
      spec.commandLine().getOut().flush();
    }
    return 0;
  }

  /** Comma-separated non-negative ints; anything else is a user error naming the bad piece. */
  static int[] parseIds(String text) {
    if (text == null || text.isBlank())
      throw new UserError("--input-ids is empty; give ids like 151644,872,198");
    String[] parts = text.split(",", -1);
    int[] ids = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i].trim();
      try {
        ids[i] = Integer.parseInt(p);
      } catch (NumberFormatException e) {
        throw new UserError(
            "--input-ids: '" + p + "' is not a token id (expected comma-separated integers)");
      }
      if (ids[i] < 0) throw new UserError("--input-ids: token id " + ids[i] + " is negative");
    }
    return ids;
  }

  static void checkModelDir(Path dir) {
    if (!Files.isDirectory(dir)) throw new UserError("--model " + dir + " is not a folder");
    if (!Files.isRegularFile(dir.resolve("config.json"))) {
      throw new UserError(
          "--model " + dir + " has no config.json (expected a Hugging Face checkpoint folder)");
    }
  }

  static String deviceOption(String device) {
    if (!device.equals("cpu") && !device.equals("cuda")) {
      throw new UserError("--device must be cpu or cuda, got '" + device + "'");
    }
    return device;
  }
}
