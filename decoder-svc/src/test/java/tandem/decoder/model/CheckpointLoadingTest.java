package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.ints;
import static tandem.decoder.model.DecoderTinyGoldensTest.json;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.checkpoint.CheckpointGenerator;
import tandem.common.checkpoint.SafetensorsWriter;
import tandem.common.checkpoint.TensorInfo;
import tandem.common.checkpoint.TensorStore;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

/** Generated checkpoints load and run; broken ones fail with the tensor's name. */
class CheckpointLoadingTest {
  private static final int[] HELLO = {9707, 11, 1879, 0};
  private static final DecoderOptions OPTS = new DecoderOptions("cpu", "float32", 1, 16);

  private static int[] helloGreedy() throws Exception {
    int[] all =
        ints(
            json(Fixtures.path("decoder-tiny/goldens/hello.json"))
                .getAsJsonObject("ref64")
                .getAsJsonArray("greedy"));
    return java.util.Arrays.copyOf(all, 8);
  }

  @Test
  void aGeneratedCheckpointWithAStoredLmHeadButTiedConfigRunsOnEmbedTokensAsHfDoes(
      @TempDir Path tmp) throws Exception {
    // TRW-1 draws lm_head.weight independently, so the stored head differs from embed_tokens; HF
    // ignores it when tied.
    Path dir = tmp.resolve("ckpt");
    CheckpointGenerator.generate(
        Fixtures.path("decoder-tiny/config.json"),
        dir,
        new CheckpointGenerator.Options(1234, List.of(), true, "BF16"));
    try (TensorStore s = TensorStore.open(dir)) {
      assertTrue(s.has("lm_head.weight"), "the generator stored lm_head.weight");
    }
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, OPTS)) {
      assertTrue(lm.lmHeadTied());
      assertArrayEquals(helloGreedy(), Greedy.generate(lm, 0, HELLO, 8).ids());
      assertEquals(List.of(), lm.unusedTensors());
    }
  }

  @Test
  void aFloat32CheckpointIsReadThroughTheMappedPathAndRuns(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("f32");
    CheckpointGenerator.generate(
        Fixtures.path("decoder-tiny/config.json"),
        dir,
        new CheckpointGenerator.Options(1234, List.of(), false, "F32"));
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, OPTS)) {
      float[] logits = Greedy.generate(lm, 0, HELLO, 4).promptLogits();
      for (float v : logits) assertTrue(Float.isFinite(v));
      assertEquals(151936, logits.length);
    }
  }

  @Test
  void aMissingTensorIsNamedInTheError(@TempDir Path tmp) throws Exception {
    String gone = "model.layers.1.mlp.up_proj.weight";
    Path dir =
        copyOf(TinyCheckpoints.decoderTiny(), tmp.resolve("missing"), n -> !n.equals(gone), null);
    var e = assertThrows(IllegalArgumentException.class, () -> Qwen3ForCausalLM.load(dir, OPTS));
    assertTrue(e.getMessage().contains(gone), e.getMessage());
  }

  @Test
  void aMisshapenTensorIsNamedWithBothShapes(@TempDir Path tmp) throws Exception {
    Path dir = copyOf(TinyCheckpoints.decoderTiny(), tmp.resolve("shape"), n -> true, null);
    String config =
        Files.readString(dir.resolve("config.json"))
            .replace("\"intermediate_size\": 192", "\"intermediate_size\": 128");
    Files.writeString(dir.resolve("config.json"), config);
    var e = assertThrows(IllegalArgumentException.class, () -> Qwen3ForCausalLM.load(dir, OPTS));
    assertTrue(e.getMessage().contains("model.layers.0.mlp.gate_proj.weight"), e.getMessage());
    assertTrue(e.getMessage().contains("192") && e.getMessage().contains("128"), e.getMessage());
  }

  @Test
  void anExtraTextTensorIsReportedAsUnused(@TempDir Path tmp) throws Exception {
    String extra = "model.layers.0.self_attn.rotary_emb.inv_freq";
    Path dir = copyOf(TinyCheckpoints.decoderTiny(), tmp.resolve("extra"), n -> true, extra);
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, OPTS)) {
      assertEquals(List.of(extra), lm.unusedTensors());
    }
  }

  @Test
  void anUntiedCheckpointUsesItsOwnLmHead(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("untied");
    Files.createDirectories(dir);
    String config = Files.readString(Fixtures.path("decoder-tiny/config.json"));
    Files.writeString(
        dir.resolve("config.json"),
        config.replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"));
    CheckpointGenerator.generate(
        dir.resolve("config.json"), dir, new CheckpointGenerator.Options(1234));
    float[] tied;
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(TinyCheckpoints.decoderTiny(), OPTS)) {
      assertTrue(lm.lmHeadTied());
      tied = Greedy.generate(lm, 0, HELLO, 1).promptLogits();
    }
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, OPTS)) {
      assertFalse(lm.lmHeadTied());
      float[] untied = Greedy.generate(lm, 0, HELLO, 1).promptLogits();
      assertTrue(
          DecoderTinyGoldensTest.maxAbsDiff(tied, untied) > 0.1,
          "a different head gives different logits");
    }
  }

  @Test
  void cudaWithoutAGpuFallsBackToCpuWithTheSameResults() throws Exception {
    try (Qwen3ForCausalLM lm =
        Qwen3ForCausalLM.load(
            TinyCheckpoints.decoderTiny(), new DecoderOptions("cuda", "float16", 1, 16))) {
      // this build ships only CPU natives, so no GPU is ever visible: float16 falls back to float32
      // too
      assertArrayEquals(helloGreedy(), Greedy.generate(lm, 0, HELLO, 8).ids());
    }
  }

  /**
   * Copies a checkpoint keeping the tensors {@code keep} accepts, optionally adding one small extra
   * tensor.
   */
  private static Path copyOf(Path src, Path dir, Predicate<String> keep, String extra)
      throws Exception {
    Files.createDirectories(dir);
    Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
    try (TensorStore s = TensorStore.open(src)) {
      SafetensorsWriter w = new SafetensorsWriter();
      for (String n : s.names()) if (keep.test(n)) w.add(s.info(n), s.raw(n));
      if (extra != null) {
        w.add(new TensorInfo(extra, "F32", new long[] {4}), java.nio.ByteBuffer.allocate(16));
      }
      w.write(dir.resolve("model.safetensors"));
    }
    return dir;
  }
}
