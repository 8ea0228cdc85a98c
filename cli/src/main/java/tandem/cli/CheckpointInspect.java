package tandem.cli;

import com.google.gson.GsonBuilder;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tandem.common.checkpoint.CheckpointInspector;
import tandem.common.checkpoint.CheckpointInspector.Report;
import tandem.common.checkpoint.ModelConfig;

/**
 * {@code vlm checkpoint inspect DIR}: what a checkpoint is and what is wrong with it. Exit 1 when
 * problems exist.
 */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description = {
      "Describe a checkpoint folder: architecture, tensor shapes and dtypes, parameters per part,"
          + " image tokens per image,",
      "stop ids, chat template, and every problem found. Exit code 0 = no problems, 1 = problems"
          + " listed."
    })
final class CheckpointInspect implements Callable<Integer> {
  @Parameters(paramLabel = "DIR", description = "checkpoint folder")
  Path dir;

  @Option(names = "--json", description = "print the report as JSON")
  boolean json;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (!Files.isDirectory(dir))
      throw new UserError("checkpoint folder " + dir + " does not exist");
    if (!Files.isRegularFile(dir.resolve("config.json")))
      throw new UserError("no config.json in " + dir);
    Report r;
    try {
      r = CheckpointInspector.inspect(dir);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(
          new GsonBuilder()
              .setPrettyPrinting()
              .serializeNulls()
              .disableHtmlEscaping()
              .create()
              .toJson(toMap(r)));
    } else {
      print(r, out);
    }
    out.flush();
    return r.problems().isEmpty() ? 0 : 1;
  }

  private static Map<String, Object> toMap(Report r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("dir", r.dir().toString());
    m.put("architecture", r.config().architecture().name());
    m.put("model_type", r.modelType());
    m.put("architectures", r.architectures());
    m.put("text_config", r.config().text());
    m.put("vision_config", r.config().vision());
    m.put("scale_factor", r.config().scaleFactor());
    m.put("image_token_id", r.config().imageTokenId());
    m.put("dtypes", r.dtypes());
    m.put("file_bytes", r.fileBytes());
    m.put("parameters", r.parameters());
    m.put("total_parameters", r.totalParameters());
    m.put("image_tokens", r.imageTokens());
    m.put("stop_ids", r.stopIds());
    m.put("chat_template", r.chatTemplate().name());
    m.put(
        "tensors",
        r.tensors().stream()
            .map(
                g ->
                    Map.of(
                        "name",
                        g.pattern(),
                        "dtype",
                        g.dtype(),
                        "shape",
                        g.shape(),
                        "count",
                        g.count()))
            .toList());
    m.put("problems", r.problems());
    return m;
  }

  private static void print(Report r, PrintWriter out) {
    ModelConfig c = r.config();
    out.printf("checkpoint     %s%n", r.dir());
    out.printf(
        "architecture   %s (%s, model_type %s)%n",
        c.architecture(), String.join(", ", r.architectures()), r.modelType());
    if (c.text() != null) {
      var t = c.text();
      out.printf(
          "text           qwen3: hidden %d, %d layers, %d heads / %d kv, head_dim %d, intermediate"
              + " %d, vocab %d, rope_theta %s, rms_norm_eps %s, %s%n",
          t.hiddenSize(),
          t.numHiddenLayers(),
          t.numAttentionHeads(),
          t.numKeyValueHeads(),
          t.headDim(),
          t.intermediateSize(),
          t.vocabSize(),
          t.ropeTheta(),
          t.rmsNormEps(),
          t.tieWordEmbeddings() ? "tied embeddings" : "untied lm_head");
    } else if (c.vision() != null) {
      out.printf(
          "text           none (vision-only; connector output width %d)%n", c.textHiddenSize());
    }
    if (c.vision() != null) {
      var v = c.vision();
      out.printf(
          "vision         siglip: hidden %d, %d layers, %d heads, intermediate %d, patch %d, image"
              + " %d (%d patches), %s%n",
          v.hiddenSize(),
          v.numHiddenLayers(),
          v.numAttentionHeads(),
          v.intermediateSize(),
          v.patchSize(),
          v.imageSize(),
          v.numPatches(),
          v.hiddenAct());
      out.printf(
          "connector      pixel shuffle x%d: %d -> %d, %d image tokens per tile, image_token_id"
              + " %d%n",
          c.scaleFactor(),
          c.connectorInputSize(),
          c.textHiddenSize(),
          c.imageTokensPerTile(),
          c.imageTokenId());
    }
    out.printf("weights        %,d bytes, dtypes %s%n", r.fileBytes(), r.dtypes());
    out.printf(
        "parameters     %s | total %,d%n",
        r.parameters().entrySet().stream()
            .map(e -> e.getKey() + " " + String.format("%,d", e.getValue()))
            .collect(Collectors.joining(" | ")),
        r.totalParameters());
    var it = r.imageTokens();
    if (it != null) {
      out.printf(
          "images         splitting %s, longest edge %d, tile %d, image_seq_len %d: up to %d tiles"
              + " = %d image tokens per image%n",
          it.splitting() ? "on" : "off",
          it.longestEdge(),
          it.tileSize(),
          it.imageSeqLen(),
          it.maxTiles(),
          it.maxImageTokens());
    }
    if (c.text() != null) {
      out.printf(
          "stop ids       %s%n",
          r.stopIds().entrySet().stream()
              .map(e -> e.getKey() + (e.getValue() == null ? "" : " " + e.getValue()))
              .collect(Collectors.joining(", ")));
      out.printf("chat template  %s%n", r.chatTemplate().description);
    }
    out.println("tensors");
    for (var g : r.tensors()) {
      out.printf("  %-72s %-5s %s%n", g.pattern(), g.dtype(), Arrays.toString(g.shape()));
    }
    if (r.problems().isEmpty()) {
      out.println("problems       none");
    } else {
      out.printf("problems       %d%n", r.problems().size());
      for (String p : r.problems()) out.println("  - " + p);
    }
  }
}
