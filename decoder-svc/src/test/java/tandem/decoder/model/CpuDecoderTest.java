package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.maxAbsDiff;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.checkpoint.TensorStore;
import tandem.common.testing.TinyCheckpoints;

/**
 * The Java CPU decode kernel against the libtorch decode path it replaces: same logits (within float32 rounding of a
 * different summation order) and the same greedy ids, for a batch of sequences of different lengths.
 */
class CpuDecoderTest {
  private static final int STEPS = 8;
  private static final int[][] PROMPTS = {
    {9707, 11, 1879, 0},
    {151644, 872, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645, 198, 151644, 77091},
    {151643},
  };

  private static Qwen3ForCausalLM load(Path dir, boolean vector) throws Exception {
    ModelConfig mc = ModelConfig.fromDir(dir);
    try (TensorStore store = TensorStore.open(dir)) {
      return Qwen3ForCausalLM.load(store, mc.text(), mc.textPrefix(), new DecoderOptions("cpu", "float32", 4, 48), vector);
    }
  }

  @Test
  void theTestJvmRunsTheVectorKernelByDefault() throws Exception {
    try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(TinyCheckpoints.decoderTiny(), DecoderOptions.defaults())) {
      assertEquals("vector", lm.decodeKernel(), "surefire's argLine adds jdk.incubator.vector");
    }
  }

  @Test
  void batchedVectorDecodeMatchesLibtorchDecodeStepByStep() throws Exception {
    for (Path dir : new Path[] {TinyCheckpoints.decoderTiny(), TinyCheckpoints.vlmTiny()}) {
      try (Qwen3ForCausalLM vec = load(dir, true);
          Qwen3ForCausalLM torch = load(dir, false)) {
        assertEquals("vector", vec.decodeKernel());
        assertEquals("torch", torch.decodeKernel());
        int n = PROMPTS.length;
        int[] slots = {3, 0, 2};
        float[][] a = new float[n][];
        float[][] b = new float[n][];
        for (int i = 0; i < n; i++) {
          a[i] = vec.prefill(slots[i], vec.embed(PROMPTS[i]), PROMPTS[i].length);
          b[i] = torch.prefill(slots[i], torch.embed(PROMPTS[i]), PROMPTS[i].length);
        }
        double worst = 0;
        for (int k = 0; k < STEPS; k++) {
          int[] next = new int[n];
          for (int i = 0; i < n; i++) {
            double diff = maxAbsDiff(a[i], b[i]);
            worst = Math.max(worst, diff);
            assertTrue(diff <= 1e-4, dir.getFileName() + " seq " + i + " step " + k + ": max |Δlogit| " + diff);
            next[i] = Greedy.argmax(a[i]);
            assertEquals(Greedy.argmax(b[i]), next[i], "seq " + i + " step " + k);
          }
          a = vec.decode(slots, next);
          b = torch.decode(slots, next);
        }
        for (int i = 0; i < n; i++) assertEquals(PROMPTS[i].length + STEPS, vec.length(slots[i]));
      }
    }
  }
}
