package tandem.common.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Folds PEFT LoRA / DoRA adapters into plain weights, so a training checkpoint becomes a normal HF
 * checkpoint that the services load.
 *
 * <p>Per adapted Linear (PEFT {@code lora/layer.py} merge and {@code lora/dora.py}): {@code delta =
 * scaling * (B @ A)}, {@code scaling = alpha / r} (or {@code alpha / sqrt(r)} with {@code
 * use_rslora}). Plain LoRA: {@code W + delta}. DoRA: {@code m[o] / ||(W + delta)[o, :]|| * (W +
 * delta)[o, :]}, the L2 norm taken over the input dimension of each output row ({@code
 * torch.linalg.norm(weight, dim=1)} on the {@code [out, in]} weight).
 *
 * <p>Names: the {@code base_model.model.} prefix is stripped, {@code X.base_layer.weight} becomes
 * {@code X.weight}, {@code X.lora_A[.adapter].weight}, {@code X.lora_B[.adapter].weight} and {@code
 * X.lora_magnitude_vector[.adapter][.weight]} are consumed, {@code modules_to_save.<adapter>}
 * replaces {@code original_module}. Arithmetic is in double; each merged tensor keeps its base
 * dtype (BF16 rounded to nearest even).
 */
public final class AdapterMerger {
  private AdapterMerger() {}

  /**
   * Files copied from the training folder unchanged (everything a service or the gateway reads).
   */
  static final List<String> SIDE_FILES =
      List.of(
          "config.json",
          "generation_config.json",
          "preprocessor_config.json",
          "processor_config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "chat_template.jinja",
          "chat_template.json",
          "special_tokens_map.json",
          "added_tokens.json",
          "vocab.json",
          "merges.txt");

  /**
   * LoRA hyper-parameters. {@code alpha}/{@code rank} null = take them from adapter_config.json,
   * else 32 / 16. {@code rank} is only a check: the true rank is the first dimension of lora_A.
   */
  /**
   * @param mergedDtype dtype of the merged weights ("BF16" or "F32"); null keeps each base weight's
   *     dtype. Rounding a merged weight back to a BF16 base costs ~0.4% relative per value; F32
   *     keeps the merge exact.
   */
  public record Settings(Double alpha, Integer rank, String mergedDtype) {
    public Settings {
      if (mergedDtype != null && !mergedDtype.equals("BF16") && !mergedDtype.equals("F32")) {
        throw new IllegalArgumentException(
            "merged dtype " + mergedDtype + " is not allowed (allowed: BF16, F32)");
      }
    }

    public Settings(Double alpha, Integer rank) {
      this(alpha, rank, null);
    }
  }

  /** One adapted module after merging. */
  public record MergedModule(String weight, int rank, double scaling, boolean dora) {}

  /** What {@link #merge} did. */
  public record Result(
      Path out, List<MergedModule> merged, int passthrough, List<String> unusedNames) {}

  private static final Pattern LORA =
      Pattern.compile("^(.*)\\.(lora_A|lora_B)(?:\\.[^.]+)?\\.weight$");
  private static final Pattern MAGNITUDE =
      Pattern.compile("^(.*)\\.lora_magnitude_vector(?:\\.[^.]+)?(?:\\.weight)?$");
  private static final Pattern OTHER_PEFT =
      Pattern.compile(
          "(lora_embedding_[AB]|lora_[AB](?:\\.[^.]+)?\\.bias|\\.lora_bias|\\.hada_|\\.lokr_|\\.ia3_)");

  private record Adapter(String a, String b, String magnitude) {}

  /** Source of one output tensor. */
  private record Plan(
      TensorInfo out, TensorStore store, String sourceName, String module, Adapter adapter) {}

  /** Merges {@code in} (a training folder) into {@code out}. */
  public static Result merge(Path in, Path out, Settings settings) throws IOException {
    if (Files.exists(out) && Files.isSameFile(in, out))
      throw new IllegalArgumentException("--out must differ from --in");
    JsonObject adapterConfig =
        Files.isRegularFile(in.resolve("adapter_config.json"))
            ? Configs.readObject(in.resolve("adapter_config.json"))
            : new JsonObject();
    double defaultAlpha =
        settings.alpha() != null
            ? settings.alpha()
            : adapterConfig.has("lora_alpha") ? adapterConfig.get("lora_alpha").getAsDouble() : 32;
    Integer expectRank =
        settings.rank() != null
            ? settings.rank()
            : adapterConfig.has("r") ? Integer.valueOf(adapterConfig.get("r").getAsInt()) : null;
    boolean rslora =
        adapterConfig.has("use_rslora") && adapterConfig.get("use_rslora").getAsBoolean();
    Map<String, Double> alphaPattern = patterns(adapterConfig, "alpha_pattern");
    Map<String, Double> rankPattern =
        settings.rank() != null ? Map.of() : patterns(adapterConfig, "rank_pattern");
    ModelConfig cfg = ModelConfig.fromDir(in);

    List<TensorStore> stores = new ArrayList<>();
    try {
      stores.add(TensorStore.open(in));
      Path adapterFile = in.resolve("adapter_model.safetensors");
      if (Files.isRegularFile(adapterFile)) stores.add(TensorStore.open(adapterFile));

      // normalized name -> (store, original name)
      Map<String, Map.Entry<TensorStore, String>> byName = new TreeMap<>();
      Map<String, String[]> lora = new TreeMap<>(); // module -> [A, B]
      Map<String, String> magnitudes = new TreeMap<>();
      Set<String> dropped = new TreeSet<>();
      for (TensorStore s : stores) {
        for (String raw : s.names()) {
          String n = normalize(raw);
          if (n == null) {
            dropped.add(raw);
            continue;
          }
          if (OTHER_PEFT.matcher(n).find()) {
            throw new IllegalArgumentException(
                "adapter tensor "
                    + raw
                    + " is not supported (allowed: LoRA/DoRA on "
                    + "Linear weights: lora_A, lora_B, lora_magnitude_vector)");
          }
          Matcher m = LORA.matcher(n);
          Matcher mag = MAGNITUDE.matcher(n);
          String key;
          if (m.matches()) {
            key = n;
            String[] ab = lora.computeIfAbsent(m.group(1), k -> new String[2]);
            ab[m.group(2).equals("lora_A") ? 0 : 1] = n;
          } else if (mag.matches()) {
            key = n;
            magnitudes.put(mag.group(1), n);
          } else {
            key = n;
          }
          var prev = byName.put(key, Map.entry(s, raw));
          if (prev != null) {
            throw new IllegalArgumentException(
                "tensor " + key + " appears twice (" + prev.getValue() + " and " + raw + ")");
          }
        }
      }
      for (String mod : magnitudes.keySet()) {
        if (!lora.containsKey(mod)) {
          throw new IllegalArgumentException(
              "missing tensor "
                  + mod
                  + ".lora_A.weight / lora_B.weight for "
                  + magnitudes.get(mod));
        }
      }

      List<Plan> plans = new ArrayList<>();
      List<MergedModule> merged = new ArrayList<>();
      Set<String> consumed = new TreeSet<>();
      for (var e : lora.entrySet()) {
        String mod = e.getKey();
        String aName = e.getValue()[0];
        String bName = e.getValue()[1];
        if (aName == null)
          throw new IllegalArgumentException(
              "missing tensor " + mod + ".lora_A.weight (found " + bName + ")");
        if (bName == null)
          throw new IllegalArgumentException(
              "missing tensor " + mod + ".lora_B.weight (found " + aName + ")");
        String wName = mod + ".weight";
        var base = byName.get(wName);
        if (base == null)
          throw new IllegalArgumentException(
              "missing base weight " + wName + " for adapter " + aName);
        TensorInfo w = base.getKey().info(base.getValue());
        TensorInfo a = info(byName, aName);
        TensorInfo b = info(byName, bName);
        long[] ws = w.shape();
        if (ws.length != 2)
          throw new IllegalArgumentException(
              "base weight "
                  + wName
                  + " has shape "
                  + Arrays.toString(ws)
                  + "; only Linear [out, in] weights can be merged");
        long r = a.shape()[0];
        if (a.shape().length != 2 || a.shape()[1] != ws[1]) {
          throw new IllegalArgumentException(
              "adapter tensor "
                  + aName
                  + " has shape "
                  + Arrays.toString(a.shape())
                  + " but must be [rank, "
                  + ws[1]
                  + "] for "
                  + wName
                  + " "
                  + Arrays.toString(ws));
        }
        if (!Arrays.equals(b.shape(), new long[] {ws[0], r})) {
          throw new IllegalArgumentException(
              "adapter tensor "
                  + bName
                  + " has shape "
                  + Arrays.toString(b.shape())
                  + " but must be ["
                  + ws[0]
                  + ", "
                  + r
                  + "] for "
                  + wName
                  + " "
                  + Arrays.toString(ws)
                  + " and lora_A rank "
                  + r);
        }
        Integer wantRank =
            match(rankPattern, mod) != null
                ? Integer.valueOf(match(rankPattern, mod).intValue())
                : expectRank;
        if (wantRank != null && wantRank != r) {
          throw new IllegalArgumentException(
              "adapter tensor "
                  + aName
                  + " has rank "
                  + r
                  + " but the rank is set to "
                  + wantRank
                  + " (--rank or adapter_config.json r)");
        }
        String magName = magnitudes.get(mod);
        if (magName != null) {
          TensorInfo mi = info(byName, magName);
          if (mi.numel() != ws[0]) {
            throw new IllegalArgumentException(
                "adapter tensor "
                    + magName
                    + " has shape "
                    + Arrays.toString(mi.shape())
                    + " but must hold "
                    + ws[0]
                    + " values (one per output row of "
                    + wName
                    + ")");
          }
        }
        Double alphaOverride = match(alphaPattern, mod);
        double alpha =
            settings.alpha() == null && alphaOverride != null ? alphaOverride : defaultAlpha;
        double scaling = rslora ? alpha / Math.sqrt(r) : alpha / r;
        String outDtype = settings.mergedDtype() != null ? settings.mergedDtype() : w.dtype();
        plans.add(
            new Plan(
                new TensorInfo(wName, outDtype, ws),
                base.getKey(),
                base.getValue(),
                mod,
                new Adapter(aName, bName, magName)));
        merged.add(new MergedModule(wName, (int) r, scaling, magName != null));
        consumed.addAll(List.of(wName, aName, bName));
        if (magName != null) consumed.add(magName);
      }
      int passthrough = 0;
      for (var e : byName.entrySet()) {
        if (consumed.contains(e.getKey())) continue;
        TensorInfo i = e.getValue().getKey().info(e.getValue().getValue());
        plans.add(
            new Plan(
                new TensorInfo(e.getKey(), i.dtype(), i.shape()),
                e.getValue().getKey(),
                e.getValue().getValue(),
                null,
                null));
        passthrough++;
      }

      // the result must be a loadable checkpoint for this config
      Map<String, TensorInfo> outInfos = new TreeMap<>();
      for (Plan p : plans) outInfos.put(p.out.name(), p.out);
      List<String> unused = new ArrayList<>();
      Map<String, TensorInfo> expected = new LinkedHashMap<>();
      for (TensorInfo t : CheckpointGenerator.layout(cfg, false, "BF16")) expected.put(t.name(), t);
      for (TensorInfo t : expected.values()) {
        TensorInfo have = outInfos.get(t.name());
        if (have == null)
          throw new IllegalArgumentException("after merging, missing tensor " + t.name());
        if (!Arrays.equals(have.shape(), t.shape())) {
          throw new IllegalArgumentException(
              "after merging, tensor "
                  + t.name()
                  + " has shape "
                  + Arrays.toString(have.shape())
                  + " but the config expects "
                  + Arrays.toString(t.shape()));
        }
      }
      for (String n : outInfos.keySet())
        if (!expected.containsKey(n) && !n.equals("lm_head.weight")) unused.add(n);

      Map<String, Double> scalings = new TreeMap<>();
      for (MergedModule mm : merged) scalings.put(mm.weight(), mm.scaling());
      SafetensorsWriter w = new SafetensorsWriter();
      for (Plan p : plans) {
        if (p.adapter == null) {
          w.add(p.out, (info, sink) -> sink.write(p.store.raw(p.sourceName)));
        } else {
          w.add(p.out, (info, sink) -> sink.write(mergeOne(p, byName, scalings.get(p.out.name()))));
        }
      }
      Files.createDirectories(out);
      w.write(out.resolve("model.safetensors"));
      for (String f : SIDE_FILES) {
        if (Files.isRegularFile(in.resolve(f))) {
          Files.copy(in.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      unused.addAll(dropped);
      return new Result(out, merged, passthrough, unused);
    } finally {
      for (TensorStore s : stores) s.close();
    }
  }

  /** PEFT name → plain HF name; null for tensors that merging drops (original_module copies). */
  static String normalize(String raw) {
    String n = raw;
    if (n.startsWith("base_model.model.")) n = n.substring("base_model.model.".length());
    if (n.contains(".original_module.")) return null;
    n = n.replaceAll("\\.modules_to_save\\.[^.]+\\.", ".");
    n = n.replace(".base_layer.", ".");
    return n;
  }

  private static TensorInfo info(Map<String, Map.Entry<TensorStore, String>> byName, String name) {
    var e = byName.get(name);
    return e.getKey().info(e.getValue());
  }

  private static float[] floats(Map<String, Map.Entry<TensorStore, String>> byName, String name) {
    var e = byName.get(name);
    TensorStore.FloatReader r =
        e.getKey().reader(e.getValue(), e.getKey().info(e.getValue()).shape());
    float[] out = new float[Math.toIntExact(r.size())];
    r.get(0, out);
    return out;
  }

  /** The merged weight of one module, in its base dtype, little-endian. */
  private static ByteBuffer mergeOne(
      Plan p, Map<String, Map.Entry<TensorStore, String>> byName, double scaling) {
    int rows = (int) p.out.shape()[0];
    int cols = (int) p.out.shape()[1];
    float[] w = floats(byName, p.module + ".weight");
    float[] a = floats(byName, p.adapter.a());
    float[] b = floats(byName, p.adapter.b());
    float[] m = p.adapter.magnitude() == null ? null : floats(byName, p.adapter.magnitude());
    int r = a.length / cols;
    int es = p.out.elementSize();
    ByteBuffer out = ByteBuffer.allocate(rows * cols * es).order(ByteOrder.LITTLE_ENDIAN);
    double[] row = new double[cols];
    for (int o = 0; o < rows; o++) {
      for (int i = 0; i < cols; i++) row[i] = w[o * cols + i];
      for (int k = 0; k < r; k++) {
        double bk = scaling * b[o * r + k];
        if (bk == 0) continue;
        int ak = k * cols;
        for (int i = 0; i < cols; i++) row[i] += bk * a[ak + i];
      }
      double factor = 1;
      if (m != null) {
        double ss = 0;
        for (int i = 0; i < cols; i++) ss += row[i] * row[i];
        double norm = Math.sqrt(ss);
        if (norm == 0) {
          throw new IllegalArgumentException(
              "row "
                  + o
                  + " of "
                  + p.out.name()
                  + " is zero after the LoRA update; "
                  + "DoRA cannot normalize it");
        }
        factor = m[o] / norm;
      }
      for (int i = 0; i < cols; i++) {
        float v = (float) (row[i] * factor);
        switch (p.out.dtype()) {
          case "F32" -> out.putFloat(v);
          case "BF16" -> out.putShort(Bf16.fromFloat(v));
          default ->
              throw new IllegalArgumentException(
                  "cannot write merged "
                      + p.out.name()
                      + " as "
                      + p.out.dtype()
                      + " (allowed: BF16, F32)");
        }
      }
    }
    return out.flip();
  }

  private static Map<String, Double> patterns(JsonObject o, String key) {
    Map<String, Double> out = new LinkedHashMap<>();
    if (o.get(key) instanceof JsonObject p) {
      for (Map.Entry<String, JsonElement> e : p.entrySet())
        out.put(e.getKey(), e.getValue().getAsDouble());
    }
    return out;
  }

  /** PEFT matches pattern keys against the end of the module name ({@code (.*\.)?key$}). */
  private static Double match(Map<String, Double> patterns, String module) {
    for (var e : patterns.entrySet()) {
      if (Pattern.compile("(.*\\.)?" + e.getKey() + "$").matcher(module).matches())
        return e.getValue();
    }
    return null;
  }
}
