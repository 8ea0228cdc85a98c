package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.TinyCheckpoints;

/**
 * Builds PEFT-style training checkpoints from vlm-tiny and checks the merge against the formula,
 * computed here.
 */
class AdapterMergerTest {
  @TempDir Path tmp;

  static final List<String> MODULES =
      List.of(
          "model.text_model.layers.0.self_attn.q_proj",
          "model.text_model.layers.1.self_attn.v_proj",
          "model.vision_model.encoder.layers.0.mlp.fc1"); // has a bias: base_layer.bias must pass
  // through
  static final int RANK = 4;

  /** Adapter values of one module, as floats (what the merger reads back from F32). */
  record Lora(float[] a, float[] b, float[] m, int out, int in) {}

  private static float[] trw(long seed, String name, long... shape) {
    Trw1.Stream s = new Trw1.Stream(seed, name, shape, List.of());
    long n = 1;
    for (long d : shape) n *= d;
    float[] out = new float[(int) n];
    for (int i = 0; i < out.length; i++) out[i] = s.floatAt(i);
    return out;
  }

  private static ByteBuffer f32(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) b.putFloat(f);
    return b.flip();
  }

  private static float[] read(TensorStore s, String name) {
    FloatBuffer fb = s.float32(name).asFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }

  /**
   * W + scaling * B @ A, then (DoRA) each row rescaled to magnitude m[o]; independent of the
   * merger's code.
   */
  static double[] expected(float[] w, Lora l, double scaling) {
    double[] out = new double[w.length];
    for (int o = 0; o < l.out; o++) {
      double ss = 0;
      for (int i = 0; i < l.in; i++) {
        double d = 0;
        for (int k = 0; k < RANK; k++) d += (double) l.b[o * RANK + k] * l.a[k * l.in + i];
        out[o * l.in + i] = w[o * l.in + i] + scaling * d;
        ss += out[o * l.in + i] * out[o * l.in + i];
      }
      if (l.m != null) for (int i = 0; i < l.in; i++) out[o * l.in + i] *= l.m[o] / Math.sqrt(ss);
    }
    return out;
  }

  /**
   * Writes a training folder: the full PEFT state dict (base_model.model. prefix, base_layer,
   * lora_A.default...) in one file (wrapped = true), or plain base weights plus
   * adapter_model.safetensors (wrapped = false).
   */
  private Map<String, Lora> writeTraining(
      Path dir, boolean dora, boolean wrapped, String adapterConfig) throws IOException {
    Path src = TinyCheckpoints.vlmTiny();
    Files.createDirectories(dir);
    for (String f : AdapterMerger.SIDE_FILES) {
      if (Files.exists(src.resolve(f))) Files.copy(src.resolve(f), dir.resolve(f));
    }
    if (adapterConfig != null) Files.writeString(dir.resolve("adapter_config.json"), adapterConfig);
    Map<String, Lora> loras = new HashMap<>();
    SafetensorsWriter main = new SafetensorsWriter();
    SafetensorsWriter adapter = new SafetensorsWriter();
    String pre = "base_model.model.";
    try (TensorStore s = TensorStore.open(src)) {
      for (String n : s.names()) {
        String mod = MODULES.stream().filter(m -> n.startsWith(m + ".")).findFirst().orElse(null);
        String name =
            mod == null || !wrapped
                ? pre + n
                : pre + mod + ".base_layer" + n.substring(mod.length());
        main.add(
            new TensorInfo(wrapped ? name : n, s.info(n).dtype(), s.info(n).shape()), s.raw(n));
      }
      for (String mod : MODULES) {
        long[] ws = s.info(mod + ".weight").shape();
        int out = (int) ws[0];
        int in = (int) ws[1];
        float[] a = trw(11, mod + ".A", RANK, in);
        float[] b = trw(12, mod + ".B", out, RANK);
        float[] m = null;
        if (dora) {
          // magnitude near the merged row norms, like a trained DoRA vector
          float[] w = read(s, mod + ".weight");
          double[] merged = expected(w, new Lora(a, b, null, out, in), 2.0);
          m = new float[out];
          float[] jitter = trw(13, mod + ".m", out);
          for (int o = 0; o < out; o++) {
            double ss = 0;
            for (int i = 0; i < in; i++) ss += merged[o * in + i] * merged[o * in + i];
            m[o] = (float) (Math.sqrt(ss) * (1 + jitter[o]));
          }
        }
        loras.put(mod, new Lora(a, b, m, out, in));
        String ad = wrapped ? ".default" : "";
        SafetensorsWriter target = wrapped ? main : adapter;
        target.add(
            new TensorInfo(pre + mod + ".lora_A" + ad + ".weight", "F32", new long[] {RANK, in}),
            f32(a));
        target.add(
            new TensorInfo(pre + mod + ".lora_B" + ad + ".weight", "F32", new long[] {out, RANK}),
            f32(b));
        if (m != null) {
          target.add(
              new TensorInfo(
                  pre + mod + ".lora_magnitude_vector" + (wrapped ? ".default.weight" : ""),
                  "F32",
                  new long[] {out}),
              f32(m));
        }
      }
    }
    main.write(dir.resolve("model.safetensors"));
    if (!wrapped) adapter.write(dir.resolve("adapter_model.safetensors"));
    return loras;
  }

  private void assertMerged(Path out, Map<String, Lora> loras, double scaling) throws IOException {
    try (TensorStore merged = TensorStore.open(out);
        TensorStore base = TensorStore.open(TinyCheckpoints.vlmTiny())) {
      assertEquals(base.names(), merged.names());
      for (String n : base.names()) {
        String mod = n.endsWith(".weight") ? n.substring(0, n.length() - ".weight".length()) : null;
        if (loras.containsKey(mod)) {
          double[] exp = expected(read(base, n), loras.get(mod), scaling);
          float[] got = read(merged, n);
          for (int i = 0; i < got.length; i++) {
            double err = Math.abs(got[i] - exp[i]);
            assertTrue(
                err <= Math.abs(exp[i]) * 0x1p-8 + 1e-30,
                n + "[" + i + "] " + got[i] + " vs " + exp[i]);
          }
          // the update must actually change the weight (guards against a merge that copies the
          // base)
          float[] before = read(base, n);
          int changed = 0;
          for (int i = 0; i < got.length; i++) if (got[i] != before[i]) changed++;
          assertTrue(changed > got.length / 2, n + ": only " + changed + " values changed");
        } else {
          assertEquals(base.raw(n), merged.raw(n), n + " must pass through byte for byte");
        }
      }
    }
    assertEquals(List.of(), CheckpointInspector.inspect(out).problems());
  }

  @Test
  void doraMergeOfAFullPeftStateDictMatchesTheFormula() throws IOException {
    Path in = tmp.resolve("train");
    var loras = writeTraining(in, true, true, "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true}");
    var r = AdapterMerger.merge(in, tmp.resolve("out"), new AdapterMerger.Settings(null, null));
    assertEquals(3, r.merged().size());
    assertTrue(
        r.merged().stream().allMatch(m -> m.dora() && m.rank() == RANK && m.scaling() == 2.0));
    assertEquals(List.of(), r.unusedNames());
    assertMerged(tmp.resolve("out"), loras, 2.0);
  }

  @Test
  void mergedWeightsCanBeWrittenAsFloat32WhileUntouchedTensorsKeepTheirDtype() throws IOException {
    Path in = tmp.resolve("train");
    var loras = writeTraining(in, true, true, "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true}");
    var r =
        AdapterMerger.merge(in, tmp.resolve("out"), new AdapterMerger.Settings(null, null, "F32"));
    try (TensorStore out = TensorStore.open(tmp.resolve("out"))) {
      for (var m : r.merged()) assertEquals("F32", out.info(m.weight()).dtype(), m.weight());
      assertTrue(
          out.names().stream().anyMatch(n -> !out.info(n).dtype().equals("F32")),
          "tensors without adapters keep the base dtype");
    }
    assertMerged(tmp.resolve("out"), loras, 2.0);
  }

  @Test
  void plainLoraFromAnAdapterFileUsesCommandLineAlpha() throws IOException {
    Path in = tmp.resolve("train");
    var loras = writeTraining(in, false, false, null);
    var r = AdapterMerger.merge(in, tmp.resolve("out"), new AdapterMerger.Settings(6.0, 4));
    assertTrue(r.merged().stream().noneMatch(AdapterMerger.MergedModule::dora));
    assertMerged(tmp.resolve("out"), loras, 1.5);
  }

  @Test
  void rsloraScalesByTheSquareRootOfTheRank() throws IOException {
    Path in = tmp.resolve("train");
    var loras =
        writeTraining(in, true, true, "{\"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true}");
    var r = AdapterMerger.merge(in, tmp.resolve("out"), new AdapterMerger.Settings(null, null));
    assertEquals(4.0, r.merged().get(0).scaling());
    assertMerged(tmp.resolve("out"), loras, 4.0);
  }

  @Test
  void peftNamesAreNormalized() {
    assertEquals(
        "model.text_model.layers.0.self_attn.q_proj.weight",
        AdapterMerger.normalize(
            "base_model.model.model.text_model.layers.0.self_attn.q_proj.base_layer.weight"));
    assertEquals(
        "lm_head.weight",
        AdapterMerger.normalize("base_model.model.lm_head.modules_to_save.default.weight"));
    assertEquals(null, AdapterMerger.normalize("base_model.model.lm_head.original_module.weight"));
    assertEquals("model.norm.weight", AdapterMerger.normalize("model.norm.weight"));
  }

  private void rewrite(Path dir, String drop, TensorInfo replace) throws IOException {
    Path f = dir.resolve("model.safetensors");
    Path copy = dir.resolve("old.bin");
    Files.move(f, copy);
    SafetensorsWriter w = new SafetensorsWriter();
    try (TensorStore s = TensorStore.open(copy)) {
      for (String n : s.names()) {
        if (n.equals(drop)) continue;
        if (replace != null && n.equals(replace.name())) {
          w.add(replace, f32(new float[(int) replace.numel()]));
        } else {
          w.add(s.info(n), s.raw(n));
        }
      }
    }
    w.write(f);
    Files.delete(copy);
  }

  @Test
  void missingLoraBNamesTheTensor() throws IOException {
    Path in = tmp.resolve("train");
    writeTraining(in, true, true, null);
    String mod = "model.text_model.layers.0.self_attn.q_proj";
    rewrite(in, "base_model.model." + mod + ".lora_B.default.weight", null);
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMerger.merge(
                    in, tmp.resolve("out"), new AdapterMerger.Settings(null, null)));
    assertTrue(
        e.getMessage().startsWith("missing tensor " + mod + ".lora_B.weight"), e.getMessage());
  }

  @Test
  void misshapenAdapterTensorsAreRejectedWithTheExpectedShape() throws IOException {
    Path in = tmp.resolve("train");
    writeTraining(in, true, true, null);
    String mod = "model.text_model.layers.1.self_attn.v_proj";
    rewrite(
        in,
        null,
        new TensorInfo(
            "base_model.model." + mod + ".lora_A.default.weight", "F32", new long[] {4, 32}));
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMerger.merge(
                    in, tmp.resolve("out"), new AdapterMerger.Settings(null, null)));
    assertEquals(
        "adapter tensor "
            + mod
            + ".lora_A.default.weight has shape [4, 32] but must be [rank, 64] for "
            + mod
            + ".weight [32, 64]",
        e.getMessage());

    Path in2 = tmp.resolve("train2");
    writeTraining(in2, true, true, null);
    rewrite(
        in2,
        null,
        new TensorInfo(
            "base_model.model." + mod + ".lora_magnitude_vector.default.weight",
            "F32",
            new long[] {31}));
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMerger.merge(
                    in2, tmp.resolve("out2"), new AdapterMerger.Settings(null, null)));
    assertTrue(e.getMessage().contains("must hold 32 values"), e.getMessage());

    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AdapterMerger.merge(
                    in2, tmp.resolve("out3"), new AdapterMerger.Settings(32.0, 16)));
    assertTrue(e.getMessage().contains("has rank 4 but the rank is set to 16"), e.getMessage());
  }
}
