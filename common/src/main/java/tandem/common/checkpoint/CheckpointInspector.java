package tandem.common.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Looks at a checkpoint folder without running it: what it is, how big each part is, what the
 * processor will make of an image, which ids stop generation, which chat template it carries, and
 * everything that would make loading or serving fail. Problems are collected, never thrown, so one
 * run lists them all.
 */
public final class CheckpointInspector {
  private CheckpointInspector() {}

  /** Chat templates Tandem knows, by exact text. */
  public enum ChatTemplate {
    QWEN3_SMVL("Qwen3-SmVL (renders image items)"),
    QWEN3_STOCK("stock Qwen3 (drops image items: use string content)"),
    UNKNOWN("unknown"),
    NONE("none");

    public final String description;

    ChatTemplate(String description) {
      this.description = description;
    }
  }

  /** A group of tensors that differ only in their layer index. */
  public record TensorGroup(String pattern, String dtype, long[] shape, int count) {}

  /** How the image processor config turns one image into image tokens. */
  public record ImageTokens(
      boolean splitting,
      int longestEdge,
      int tileSize,
      int imageSeqLen,
      int maxTiles,
      int maxImageTokens) {}

  /**
   * What {@link #inspect} found. {@code parameters} maps part (vision, connector, text, lm_head,
   * other) to element counts; {@code stopIds} maps each stop id to its token text where the
   * tokenizer config names it.
   */
  public record Report(
      Path dir,
      ModelConfig config,
      String modelType,
      List<String> architectures,
      List<TensorGroup> tensors,
      Map<String, Integer> dtypes,
      long fileBytes,
      Map<String, Long> parameters,
      ImageTokens imageTokens,
      Map<Integer, String> stopIds,
      ChatTemplate chatTemplate,
      List<String> problems) {
    public long totalParameters() {
      return parameters.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  private static final Pattern LAYER_INDEX = Pattern.compile("\\.layers\\.(\\d+)\\.");
  private static final Pattern PEFT =
      Pattern.compile(
          "(^base_model\\.model\\.|\\.base_layer\\.|\\.lora_[AB]\\.|lora_magnitude_vector)");

  /** Inspects {@code dir}; fails only when config.json is missing or unreadable. */
  public static Report inspect(Path dir) throws IOException {
    List<String> problems = new ArrayList<>();
    JsonObject root = Configs.readObject(dir.resolve("config.json"));
    ModelConfig cfg;
    try {
      cfg = ModelConfig.fromJson(root);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(dir.resolve("config.json") + ": " + e.getMessage(), e);
    }
    String modelType = root.has("model_type") ? root.get("model_type").getAsString() : null;
    List<String> archs = new ArrayList<>();
    if (root.has("architectures"))
      root.getAsJsonArray("architectures").forEach(e -> archs.add(e.getAsString()));

    List<TensorGroup> groups = new ArrayList<>();
    Map<String, Integer> dtypes = new TreeMap<>();
    Map<String, Long> params = new LinkedHashMap<>();
    long fileBytes = 0;
    try (TensorStore store = TensorStore.open(dir)) {
      Map<String, TensorInfo> infos = store.infos();
      for (TensorInfo t : infos.values()) {
        dtypes.merge(t.dtype(), 1, Integer::sum);
        params.merge(part(cfg, t.name()), t.numel(), Long::sum);
        if (!Set.of("BF16", "F16", "F32").contains(t.dtype())) {
          problems.add(
              "tensor " + t.name() + " has dtype " + t.dtype() + " (Tandem reads BF16, F16, F32)");
        }
      }
      groups = group(infos.values());
      checkLayout(cfg, infos, problems);
      checkLmHead(cfg, store, problems);
      fileBytes = weightFileBytes(dir);
    } catch (IOException e) {
      problems.add(e.getMessage());
    }

    ImageTokens imageTokens = cfg.hasVision() ? imageTokens(dir, cfg, problems) : null;
    Map<Integer, String> stops = stopIds(dir, cfg, problems);
    ChatTemplate template = chatTemplate(dir, cfg, problems);
    if (cfg.hasText() && !Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      problems.add("tokenizer.json is missing (the gateway cannot tokenize)");
    }
    Map<String, Long> ordered = new LinkedHashMap<>();
    for (String part : List.of("vision", "connector", "text", "lm_head", "other")) {
      if (params.containsKey(part)) ordered.put(part, params.get(part));
    }
    return new Report(
        dir,
        cfg,
        modelType,
        List.copyOf(archs),
        groups,
        dtypes,
        fileBytes,
        ordered,
        imageTokens,
        stops,
        template,
        List.copyOf(problems));
  }

  private static String part(ModelConfig cfg, String name) {
    if (cfg.visionPrefix() != null && name.startsWith(cfg.visionPrefix())) return "vision";
    if (cfg.connectorPrefix() != null && name.startsWith(cfg.connectorPrefix())) return "connector";
    if (name.equals("lm_head.weight")) return "lm_head";
    if (name.startsWith(cfg.textPrefix())) return "text";
    return "other";
  }

  /**
   * Collapses layer indices: {@code layers.{0..27}.mlp.up_proj.weight} when dtype and shape agree.
   */
  static List<TensorGroup> group(Iterable<TensorInfo> tensors) {
    record Key(String pattern, String dtype, List<Long> shape) {}
    Map<Key, List<Integer>> byKey = new LinkedHashMap<>();
    for (TensorInfo t : tensors) {
      Matcher m = LAYER_INDEX.matcher(t.name());
      String pattern =
          m.find()
              ? t.name().substring(0, m.start()) + ".layers.{i}." + t.name().substring(m.end())
              : t.name();
      int idx = m.find(0) ? Integer.parseInt(m.group(1)) : -1;
      Key k = new Key(pattern, t.dtype(), Arrays.stream(t.shape()).boxed().toList());
      byKey.computeIfAbsent(k, x -> new ArrayList<>()).add(idx);
    }
    List<TensorGroup> out = new ArrayList<>();
    for (var e : byKey.entrySet()) {
      List<Integer> idx = e.getValue().stream().sorted().toList();
      String p = e.getKey().pattern;
      if (idx.get(0) >= 0) {
        boolean contiguous = idx.get(idx.size() - 1) - idx.get(0) == idx.size() - 1;
        String range =
            idx.size() == 1
                ? "" + idx.get(0)
                : contiguous
                    ? "{" + idx.get(0) + ".." + idx.get(idx.size() - 1) + "}"
                    : idx.toString().replace(" ", "");
        p = p.replace("{i}", range);
      }
      out.add(
          new TensorGroup(
              p,
              e.getKey().dtype,
              e.getKey().shape.stream().mapToLong(Long::longValue).toArray(),
              idx.size()));
    }
    out.sort((a, b) -> a.pattern().compareTo(b.pattern()));
    return out;
  }

  private static void checkLayout(
      ModelConfig cfg, Map<String, TensorInfo> infos, List<String> problems) {
    Map<String, TensorInfo> expected = new LinkedHashMap<>();
    for (TensorInfo t : CheckpointGenerator.layout(cfg, false, "BF16")) expected.put(t.name(), t);
    List<String> missing = new ArrayList<>();
    for (TensorInfo t : expected.values()) {
      TensorInfo have = infos.get(t.name());
      if (have == null) {
        missing.add(t.name());
      } else if (!Arrays.equals(have.shape(), t.shape())) {
        problems.add(
            "tensor "
                + t.name()
                + " has shape "
                + Arrays.toString(have.shape())
                + " but the config expects "
                + Arrays.toString(t.shape()));
      }
    }
    if (!missing.isEmpty())
      problems.add(missing.size() + " missing tensors: " + abbreviate(missing));
    List<String> unexpected = new ArrayList<>();
    boolean peft = false;
    for (String n : infos.keySet()) {
      if (!expected.containsKey(n) && !n.equals("lm_head.weight")) {
        unexpected.add(n);
        peft |= PEFT.matcher(n).find();
      }
    }
    if (peft) {
      problems.add(
          "PEFT/LoRA tensor names found (base_model.model., base_layer, lora_A/B): this is a"
              + " training checkpoint; run `vlm checkpoint merge-dora --in DIR --out NEW_DIR`");
    }
    if (!unexpected.isEmpty())
      problems.add(unexpected.size() + " unused tensors: " + abbreviate(unexpected));
  }

  private static void checkLmHead(ModelConfig cfg, TensorStore store, List<String> problems) {
    if (!cfg.hasText() || !store.has("lm_head.weight")) return;
    String embed = cfg.textPrefix() + "embed_tokens.weight";
    if (!store.has(embed) || !cfg.text().tieWordEmbeddings()) return;
    TensorInfo a = store.info("lm_head.weight");
    TensorInfo b = store.info(embed);
    if (!a.dtype().equals(b.dtype()) || !Arrays.equals(a.shape(), b.shape())) {
      problems.add(
          "lm_head.weight " + a + " differs from " + b + " although tie_word_embeddings is true");
    } else if (!store.raw("lm_head.weight").equals(store.raw(embed))) {
      problems.add(
          "lm_head.weight is not bit-identical to "
              + embed
              + " although text tie_word_embeddings is true (HF and decoder-svc ignore the stored"
              + " copy and use embed_tokens: a suspect export)");
    }
  }

  private static long weightFileBytes(Path dir) throws IOException {
    long n = 0;
    try (var s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator)
        if (p.toString().endsWith(".safetensors")) n += Files.size(p);
    }
    return n;
  }

  private static ImageTokens imageTokens(Path dir, ModelConfig cfg, List<String> problems)
      throws IOException {
    Path pre = dir.resolve("preprocessor_config.json");
    Path proc = dir.resolve("processor_config.json");
    boolean splitting = true; // SmolVLM/Idefics3 image processor defaults
    int longest = 4 * 364;
    int tile = 364;
    if (Files.isRegularFile(pre)) {
      JsonObject p = Configs.readObject(pre);
      if (p.has("do_image_splitting")) splitting = p.get("do_image_splitting").getAsBoolean();
      if (p.get("size") instanceof JsonObject s && s.has("longest_edge"))
        longest = s.get("longest_edge").getAsInt();
      if (p.get("max_image_size") instanceof JsonObject s && s.has("longest_edge"))
        tile = s.get("longest_edge").getAsInt();
    } else {
      problems.add(
          "preprocessor_config.json is missing (HF defaults would tile at 364, not "
              + cfg.vision().imageSize()
              + ")");
    }
    int seqLen = 169; // SmolVLMProcessor's constructor default (spec pitfall 1)
    if (Files.isRegularFile(proc)) {
      JsonObject p = Configs.readObject(proc);
      if (p.has("image_seq_len")) seqLen = p.get("image_seq_len").getAsInt();
    } else {
      problems.add(
          "processor_config.json is missing: SmolVLMProcessor would use image_seq_len 169");
    }
    if (seqLen != cfg.imageTokensPerTile()) {
      problems.add(
          "image_seq_len "
              + seqLen
              + " does not match the "
              + cfg.imageTokensPerTile()
              + " image tokens per tile the connector produces");
    }
    if (tile != cfg.vision().imageSize()) {
      problems.add(
          "max_image_size.longest_edge "
              + tile
              + " differs from vision image_size "
              + cfg.vision().imageSize());
    }
    int side = (longest + tile - 1) / tile;
    int maxTiles = splitting && longest > tile ? side * side + 1 : 1;
    return new ImageTokens(splitting, longest, tile, seqLen, maxTiles, maxTiles * seqLen);
  }

  private static Map<Integer, String> stopIds(Path dir, ModelConfig cfg, List<String> problems)
      throws IOException {
    Map<Integer, String> out = new LinkedHashMap<>();
    if (!cfg.hasText()) return out;
    Set<Integer> ids = new LinkedHashSet<>(GenerationConfig.fromDir(dir).eosTokenIds());
    if (!Files.isRegularFile(dir.resolve("generation_config.json"))) {
      problems.add("generation_config.json is missing: stop ids come from config.json only");
    }
    ids.addAll(cfg.text().eosTokenId());
    if (ids.isEmpty())
      problems.add("no eos_token_id anywhere: generation only stops at max_new_tokens");
    Map<String, String> names = new TreeMap<>();
    Path tc = dir.resolve("tokenizer_config.json");
    if (Files.isRegularFile(tc)
        && Configs.readObject(tc).get("added_tokens_decoder") instanceof JsonObject added) {
      for (Map.Entry<String, JsonElement> e : added.entrySet()) {
        names.put(e.getKey(), e.getValue().getAsJsonObject().get("content").getAsString());
      }
    }
    for (int id : ids) {
      if (id < 0 || id >= cfg.text().vocabSize())
        problems.add("stop id " + id + " is outside the vocabulary");
      out.put(id, names.get(Integer.toString(id)));
    }
    return out;
  }

  private static ChatTemplate chatTemplate(Path dir, ModelConfig cfg, List<String> problems)
      throws IOException {
    if (!cfg.hasText()) return ChatTemplate.NONE;
    Path tc = dir.resolve("tokenizer_config.json");
    Path jinja = dir.resolve("chat_template.jinja");
    String template = null;
    if (Files.isRegularFile(jinja)) {
      template = Files.readString(jinja);
    } else if (Files.isRegularFile(tc)) {
      JsonElement t = Configs.readObject(tc).get("chat_template");
      if (t != null && t.isJsonPrimitive()) template = t.getAsString();
    }
    ChatTemplate kind;
    if (template == null) {
      kind = ChatTemplate.NONE;
    } else if (template.equals(resource("/tandem/tokenizer/qwen3-smvl-chat_template.jinja"))) {
      kind = ChatTemplate.QWEN3_SMVL;
    } else if (template.equals(
        JsonParser.parseString(resource("/tandem/tokenizer/qwen3-tokenizer_config.json"))
            .getAsJsonObject()
            .get("chat_template")
            .getAsString())) {
      kind = ChatTemplate.QWEN3_STOCK;
    } else {
      kind = ChatTemplate.UNKNOWN;
    }
    if (kind == ChatTemplate.NONE)
      problems.add("no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
    if (cfg.hasVision() && kind == ChatTemplate.QWEN3_STOCK) {
      problems.add(
          "the stock Qwen3 chat template drops image items; Tandem formats prompts itself");
    }
    return kind;
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = CheckpointInspector.class.getResourceAsStream(name)) {
      if (in == null) throw new IOException("missing resource " + name);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static String abbreviate(List<String> names) {
    return names.size() <= 5
        ? String.join(", ", names)
        : String.join(", ", names.subList(0, 5)) + ", ... (" + (names.size() - 5) + " more)";
  }
}
