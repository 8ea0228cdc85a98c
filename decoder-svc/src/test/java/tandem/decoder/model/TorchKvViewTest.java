package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.common.testing.TinyCheckpoints;

/**
 * libtorch reads a sequence whose KV blocks have consecutive ids as a view of its cache tensors,
 * and gathers the others: both give the same logits, bit for bit.
 */
class TorchKvViewTest {
  private static final int PROMPT = 40; // three blocks of 16
  private static final int STEPS = 16; // the fourth block from position 48

  /** Two slots of 64 positions: a pool of 8 blocks. */
  private static Qwen3ForCausalLM torchModel() throws Exception {
    String before = System.getProperty(Qwen3ForCausalLM.KERNEL_PROPERTY);
    System.setProperty(Qwen3ForCausalLM.KERNEL_PROPERTY, "torch");
    try {
      Qwen3ForCausalLM lm =
          Qwen3ForCausalLM.load(
              TinyCheckpoints.decoderTiny(), new DecoderOptions("cpu", "float32", 2, 64));
      assertEquals("torch", lm.decodeKernel());
      assertEquals(8, lm.kvStats().capacityBlocks());
      return lm;
    } finally {
      if (before == null) System.clearProperty(Qwen3ForCausalLM.KERNEL_PROPERTY);
      else System.setProperty(Qwen3ForCausalLM.KERNEL_PROPERTY, before);
    }
  }

  private static int[] ids(int n, int salt) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = 10 + (i * 37 + salt) % 5000;
    return ids;
  }

  /** Slot 0's prompt, then greedy decode steps of slot 0 alone: the logits of each. */
  private static List<float[]> run(Qwen3ForCausalLM lm) {
    List<float[]> out = new ArrayList<>();
    int[] prompt = ids(PROMPT, 0);
    float[] l = lm.prefill(0, lm.embed(prompt), PROMPT);
    for (int k = 0; k < STEPS; k++) {
      out.add(l.clone());
      l = lm.decode(new int[] {0}, new int[] {Greedy.argmax(l)})[0];
    }
    return out;
  }

  @Test
  void consecutiveBlocksAreReadAsAViewAndScatteredOnesGatheredWithTheSameLogits() throws Exception {
    List<float[]> viewed;
    try (Qwen3ForCausalLM lm = torchModel()) {
      viewed = run(lm);
      KvCache cache = ((TorchKernel) lm.kernel()).cache();
      assertTrue(cache.views > 0);
      assertEquals(0, cache.gathers, "a sequence alone in the pool takes ids 0, 1, 2, 3");
    }
    try (Qwen3ForCausalLM lm = torchModel()) {
      int[] other = ids(17, 5);
      lm.prefill(1, lm.embed(other), other.length); // ids 0 and 1
      // slot 0 starts in the middle of ids 2-7, at 5; its fourth block finds no id 8 and takes 4
      List<float[]> gathered = run(lm);
      KvCache cache = ((TorchKernel) lm.kernel()).cache();
      assertTrue(cache.gathers > 0, "slot 0's blocks 5, 6, 7, 4 are gathered");
      assertTrue(cache.views > 0, "while it held 5, 6, 7 they were viewed");
      for (int k = 0; k < STEPS; k++) {
        assertArrayEquals(viewed.get(k), gathered.get(k), "step " + k + " logits");
      }
    }
  }
}
