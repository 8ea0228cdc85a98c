package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.maxAbsDiff;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.testing.TinyCheckpoints;

/** The KV cache contract: batching, slot reuse and bounds. */
class BatchedDecodeTest {
  private static final int STEPS = 6;
  private static final int[][] PROMPTS = {
    {9707, 11, 1879, 0},
    {151644, 872, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645},
    {151643},
  };
  private static Qwen3ForCausalLM lm;

  @BeforeAll
  static void load() throws Exception {
    lm =
        Qwen3ForCausalLM.load(
            TinyCheckpoints.decoderTiny(), new DecoderOptions("cpu", "float32", 3, 32));
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  /** One sequence alone in slot 0: ids and the logits of every step. */
  private static List<float[]> alone(int[] prompt, int[] idsOut) {
    List<float[]> logits = new ArrayList<>();
    Greedy.Result r = Greedy.generate(lm, 0, prompt, STEPS, (k, l) -> logits.add(l.clone()));
    System.arraycopy(r.ids(), 0, idsOut, 0, STEPS);
    return logits;
  }

  @Test
  void batchedDecodeOfThreeSequencesOfDifferentLengthsEqualsDecodingEachAlone() {
    int n = PROMPTS.length;
    int[][] ids = new int[n][STEPS];
    List<List<float[]>> single = new ArrayList<>();
    for (int i = 0; i < n; i++) single.add(alone(PROMPTS[i], ids[i]));

    int[] slots = {2, 0, 1}; // not in order, to catch row/slot mix-ups
    float[][] logits = new float[n][];
    for (int i = 0; i < n; i++)
      logits[i] = lm.prefill(slots[i], lm.embed(PROMPTS[i]), PROMPTS[i].length);
    for (int k = 0; k < STEPS; k++) {
      int[] next = new int[n];
      for (int i = 0; i < n; i++) {
        // the Java kernel sums every row in the same order whatever the batch: bit for bit
        assertArrayEquals(single.get(i).get(k), logits[i], "seq " + i + " step " + k + " logits");
        next[i] = Greedy.argmax(logits[i]);
        assertEquals(ids[i][k], next[i], "seq " + i + " step " + k + " id");
      }
      if (k + 1 < STEPS) logits = lm.decode(slots, next);
    }
    for (int i = 0; i < n; i++) assertEquals(PROMPTS[i].length + STEPS - 1, lm.length(slots[i]));
    for (int s : slots) lm.release(s);
  }

  @Test
  void aSlotReusedAfterReleaseGivesTheSameResultAsAFreshOne() {
    int[] fresh = new int[STEPS];
    List<float[]> want = alone(PROMPTS[0], fresh);
    // Fill slot 0 with a longer sequence first: its stale positions must never be read after
    // release.
    Greedy.generate(lm, 0, PROMPTS[1], STEPS);
    assertEquals(0, lm.length(0));
    int[] reused = new int[STEPS];
    List<float[]> got = alone(PROMPTS[0], reused);
    assertArrayEquals(fresh, reused);
    for (int k = 0; k < STEPS; k++)
      assertTrue(maxAbsDiff(want.get(k), got.get(k)) == 0, "step " + k);
  }

  @Test
  void badArgumentsAreRejectedWithTheAllowedRange() {
    var e =
        assertThrows(IllegalArgumentException.class, () -> lm.decode(new int[] {3}, new int[] {1}));
    assertTrue(e.getMessage().contains("[0, 3)"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> lm.embed(new int[] {151936}));
    assertTrue(e.getMessage().contains("151936"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> lm.decode(new int[] {1, 1}, new int[] {1, 2}));
    assertTrue(e.getMessage().contains("twice"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> lm.prefill(0, new float[10], 1));
    assertTrue(e.getMessage().contains("len*hidden"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> lm.prefill(0, new float[33 * 64], 33));
  }

  @Test
  void aFullSlotRefusesAnotherToken() {
    int max = lm.maxSeqLen();
    lm.prefill(1, lm.embed(new int[max]), max);
    var e =
        assertThrows(IllegalStateException.class, () -> lm.decode(new int[] {1}, new int[] {5}));
    assertTrue(e.getMessage().contains("full"), e.getMessage());
    lm.release(1);
  }
}
