package tandem.common.checkpoint;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * Writes a complete random-weight checkpoint folder: config.json, model.safetensors (TRW-1), the
 * processor and generation configs, and the real Qwen3 tokenizer files. Tensor names and shapes are
 * the Hugging Face ones ({@code Idefics3ForConditionalGeneration}'s {@code model.vision_model.*},
 * {@code model.connector.*} and the Qwen3 text model's {@code model.text_model.*}; see
 * docs/checkpoints.md).
 */
public final class CheckpointGenerator {
  private CheckpointGenerator() {}

  /**
   * Built-in configurations: {@code tiny} = the vlm-tiny fixture's, {@code full} = the real model's
   * shapes.
   */
  public enum Preset {
    TINY,
    FULL;

    public static Preset parse(String s) {
      for (Preset p : values()) if (p.name().equalsIgnoreCase(s)) return p;
      throw new IllegalArgumentException("unknown preset '" + s + "' (allowed: tiny, full)");
    }

    String resourceDir() {
      return "/tandem/presets/" + name().toLowerCase(Locale.ROOT) + "/";
    }
  }

  /**
   * How to fill the weights.
   *
   * @param lmHead also store {@code lm_head.weight} (otherwise only when the text config is untied)
   * @param dtype "BF16" (default, as the fixtures) or "F32"
   */
  public record Options(long seed, List<Trw1.RowGain> rowGains, boolean lmHead, String dtype) {
    public Options {
      rowGains = rowGains == null ? List.of() : List.copyOf(rowGains);
      if (dtype == null) dtype = "BF16";
      if (!dtype.equals("BF16") && !dtype.equals("F32")) {
        throw new IllegalArgumentException(
            "dtype " + dtype + " is not supported (allowed: BF16, F32)");
      }
    }

    public Options(long seed) {
      this(seed, List.of(), false, "BF16");
    }

    /** Seed and row gains from a trw1.json ({@code seed}, optional {@code row_gains}). */
    public static Options fromTrw1Json(Path trw1Json) throws IOException {
      JsonObject o = Configs.readObject(trw1Json);
      if (!o.has("seed")) throw new IOException(trw1Json + " has no seed");
      return new Options(o.get("seed").getAsLong(), Trw1.rowGains(o), false, "BF16");
    }
  }

  private static final String[] SIDE_FILES = {
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json"
  };

  /** Names and shapes of every tensor a checkpoint with this config holds, sorted by name. */
  public static List<TensorInfo> layout(ModelConfig cfg, boolean lmHead, String dtype) {
    List<TensorInfo> out = new ArrayList<>();
    if (cfg.vision() != null) {
      VisionConfig v = cfg.vision();
      String p = cfg.visionPrefix();
      long h = v.hiddenSize();
      long i = v.intermediateSize();
      out.add(
          t(
              p + "embeddings.patch_embedding.weight",
              dtype,
              h,
              v.numChannels(),
              v.patchSize(),
              v.patchSize()));
      out.add(t(p + "embeddings.patch_embedding.bias", dtype, h));
      out.add(t(p + "embeddings.position_embedding.weight", dtype, v.numPatches(), h));
      for (int l = 0; l < v.numHiddenLayers(); l++) {
        String q = p + "encoder.layers." + l + ".";
        for (String ln : new String[] {"layer_norm1", "layer_norm2"}) {
          out.add(t(q + ln + ".weight", dtype, h));
          out.add(t(q + ln + ".bias", dtype, h));
        }
        for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
          out.add(t(q + "self_attn." + proj + ".weight", dtype, h, h));
          out.add(t(q + "self_attn." + proj + ".bias", dtype, h));
        }
        out.add(t(q + "mlp.fc1.weight", dtype, i, h));
        out.add(t(q + "mlp.fc1.bias", dtype, i));
        out.add(t(q + "mlp.fc2.weight", dtype, h, i));
        out.add(t(q + "mlp.fc2.bias", dtype, h));
      }
      out.add(t(p + "post_layernorm.weight", dtype, h));
      out.add(t(p + "post_layernorm.bias", dtype, h));
      out.add(
          t(
              cfg.connectorPrefix() + "modality_projection.proj.weight",
              dtype,
              cfg.textHiddenSize(),
              cfg.connectorInputSize()));
    }
    if (cfg.text() != null) {
      Qwen3Config c = cfg.text();
      String p = cfg.textPrefix();
      long d = c.hiddenSize();
      out.add(t(p + "embed_tokens.weight", dtype, c.vocabSize(), d));
      for (int l = 0; l < c.numHiddenLayers(); l++) {
        String q = p + "layers." + l + ".";
        out.add(t(q + "input_layernorm.weight", dtype, d));
        out.add(t(q + "self_attn.q_proj.weight", dtype, c.qDim(), d));
        out.add(t(q + "self_attn.k_proj.weight", dtype, c.kvDim(), d));
        out.add(t(q + "self_attn.v_proj.weight", dtype, c.kvDim(), d));
        out.add(t(q + "self_attn.o_proj.weight", dtype, d, c.qDim()));
        out.add(t(q + "self_attn.q_norm.weight", dtype, c.headDim()));
        out.add(t(q + "self_attn.k_norm.weight", dtype, c.headDim()));
        out.add(t(q + "post_attention_layernorm.weight", dtype, d));
        out.add(t(q + "mlp.gate_proj.weight", dtype, c.intermediateSize(), d));
        out.add(t(q + "mlp.up_proj.weight", dtype, c.intermediateSize(), d));
        out.add(t(q + "mlp.down_proj.weight", dtype, d, c.intermediateSize()));
      }
      out.add(t(p + "norm.weight", dtype, d));
      if (lmHead || !c.tieWordEmbeddings()) out.add(t("lm_head.weight", dtype, c.vocabSize(), d));
    }
    out.sort((a, b) -> a.name().compareTo(b.name()));
    return out;
  }

  private static TensorInfo t(String name, String dtype, long... shape) {
    return new TensorInfo(name, dtype, shape);
  }

  /** Streams TRW-1 weights for {@code cfg} into one safetensors file. */
  public static void writeWeights(ModelConfig cfg, Path file, Options opt) throws IOException {
    List<TensorInfo> tensors = layout(cfg, opt.lmHead(), opt.dtype());
    for (Trw1.RowGain g : opt.rowGains()) {
      if (tensors.stream().noneMatch(t -> t.name().equals(g.tensor()))) {
        throw new IllegalArgumentException(
            "row gain names tensor " + g.tensor() + ", which this config does not have");
      }
    }
    SafetensorsWriter w = new SafetensorsWriter();
    for (TensorInfo info : tensors) w.add(info, (i, sink) -> streamTrw1(i, opt, sink));
    w.write(file);
  }

  private static final int CHUNK = 1 << 20; // elements per write

  private static void streamTrw1(TensorInfo info, Options opt, SafetensorsWriter.ChunkSink sink)
      throws IOException {
    Trw1.Stream s = new Trw1.Stream(opt.seed(), info.name(), info.shape(), opt.rowGains());
    long n = info.numel();
    int es = info.elementSize();
    ByteBuffer buf =
        ByteBuffer.allocateDirect((int) Math.min(n, CHUNK) * es).order(ByteOrder.LITTLE_ENDIAN);
    for (long from = 0; from < n; from += CHUNK) {
      int len = (int) Math.min(CHUNK, n - from);
      buf.clear().limit(len * es);
      if (es == 2) {
        s.fillBf16(buf.asShortBuffer(), from);
      } else {
        FloatBuffer f = buf.asFloatBuffer();
        for (int k = 0; k < len; k++) f.put(k, s.floatAt(from + k));
      }
      sink.write(buf);
    }
  }

  /** Writes a whole checkpoint folder for a built-in preset. Returns {@code outDir}. */
  public static Path generate(Preset preset, Path outDir, Options opt) throws IOException {
    Files.createDirectories(outDir);
    copyResource(preset.resourceDir() + "config.json", outDir.resolve("config.json"));
    for (String f : SIDE_FILES) {
      if (f.equals("tokenizer_config.json")) continue; // derived from the npm file below
      copyResource(preset.resourceDir() + f, outDir.resolve(f));
    }
    return finish(outDir, opt);
  }

  /**
   * Writes a whole checkpoint folder for a config.json of either layout (Idefics3/SmolVLM or
   * Qwen3ForCausalLM). Side files next to it (generation_config.json, preprocessor_config.json,
   * processor_config.json, tokenizer_config.json) are copied when present; missing ones get
   * defaults.
   */
  public static Path generate(Path configJson, Path outDir, Options opt) throws IOException {
    if (!Files.isRegularFile(configJson))
      throw new IOException("config file " + configJson + " does not exist");
    Path srcDir = configJson.toAbsolutePath().getParent();
    Files.createDirectories(outDir);
    if (!Files.isSameFile(srcDir, outDir)
        || !configJson.getFileName().toString().equals("config.json")) {
      Files.copy(configJson, outDir.resolve("config.json"), StandardCopyOption.REPLACE_EXISTING);
    }
    for (String f : SIDE_FILES) {
      Path src = srcDir.resolve(f);
      if (Files.isRegularFile(src) && !Files.isSameFile(srcDir, outDir)) {
        Files.copy(src, outDir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return finish(outDir, opt);
  }

  private static Path finish(Path outDir, Options opt) throws IOException {
    ModelConfig cfg = ModelConfig.fromDir(outDir);
    boolean vlm = cfg.architecture() == Architecture.VISION_LANGUAGE;
    if (cfg.hasText()) {
      if (!Files.exists(outDir.resolve("generation_config.json"))) {
        writeJson(outDir.resolve("generation_config.json"), defaultGenerationConfig(cfg.text()));
      }
      writeTokenizer(outDir, vlm);
    }
    if (vlm) {
      if (!Files.exists(outDir.resolve("preprocessor_config.json"))) {
        copyResource(
            Preset.FULL.resourceDir() + "preprocessor_config.json",
            outDir.resolve("preprocessor_config.json"));
      }
      if (!Files.exists(outDir.resolve("processor_config.json"))) {
        JsonObject o = new JsonObject();
        o.addProperty("image_seq_len", cfg.imageTokensPerTile());
        o.addProperty("processor_class", "SmolVLMProcessor");
        writeJson(outDir.resolve("processor_config.json"), o);
      }
    }
    writeWeights(cfg, outDir.resolve("model.safetensors"), opt);
    writeJson(outDir.resolve("trw1.json"), trw1Json(opt));
    return outDir;
  }

  private static JsonObject defaultGenerationConfig(Qwen3Config text) {
    JsonObject o = new JsonObject();
    if (text.bosTokenId() != null) o.addProperty("bos_token_id", text.bosTokenId());
    JsonArray eos = new JsonArray();
    text.eosTokenId().forEach(eos::add);
    if (!eos.isEmpty()) o.add("eos_token_id", eos);
    return o;
  }

  private static JsonObject trw1Json(Options opt) {
    JsonObject o = new JsonObject();
    o.addProperty("generator", "TRW-1 (docs/checkpoints.md)");
    o.addProperty("seed", opt.seed());
    o.addProperty("dtype", opt.dtype());
    JsonArray gains = new JsonArray();
    for (Trw1.RowGain g : opt.rowGains()) {
      JsonObject j = new JsonObject();
      j.addProperty("tensor", g.tensor());
      j.addProperty("row", g.row());
      j.addProperty("gain", g.gain());
      gains.add(j);
    }
    o.add("row_gains", gains);
    return o;
  }

  /**
   * Writes tokenizer.json (the npm Qwen3 tokenizer, byte-identical) and tokenizer_config.json
   * (npm's, unless one is already there; for vision-language checkpoints with the Qwen3-SmVL chat
   * template, which renders image items).
   */
  public static void writeTokenizer(Path outDir, boolean visionLanguage) throws IOException {
    try (InputStream in = resource("/tandem/tokenizer/qwen3-tokenizer.json.gz");
        GZIPInputStream gz = new GZIPInputStream(in)) {
      Files.copy(gz, outDir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
    }
    Path tc = outDir.resolve("tokenizer_config.json");
    if (Files.exists(tc)) return;
    if (!visionLanguage) {
      copyResource("/tandem/tokenizer/qwen3-tokenizer_config.json", tc);
      return;
    }
    JsonObject o =
        JsonParser.parseString(readResource("/tandem/tokenizer/qwen3-tokenizer_config.json"))
            .getAsJsonObject();
    o.addProperty(
        "chat_template", readResource("/tandem/tokenizer/qwen3-smvl-chat_template.jinja"));
    writeJson(tc, o);
  }

  private static void writeJson(Path file, JsonObject o) throws IOException {
    String s =
        new GsonBuilder()
                .setPrettyPrinting()
                .serializeNulls()
                .disableHtmlEscaping()
                .create()
                .toJson(o)
            + "\n";
    Files.writeString(file, s, StandardCharsets.UTF_8);
  }

  private static InputStream resource(String name) throws IOException {
    InputStream in = CheckpointGenerator.class.getResourceAsStream(name);
    if (in == null) throw new IOException("missing resource " + name + " (broken build?)");
    return in;
  }

  private static String readResource(String name) throws IOException {
    try (InputStream in = resource(name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static void copyResource(String name, Path to) throws IOException {
    try (InputStream in = resource(name)) {
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
