package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.testing.TinyCheckpoints;

/** Prompts prefilled together in one stacked pass give what prefilling each alone gives. */
class BatchedPrefillTest {
  private static Qwen3ForCausalLM lm;

  @BeforeAll
  static void load() throws Exception {
    lm =
        Qwen3ForCausalLM.load(
            TinyCheckpoints.decoderTiny(), new DecoderOptions("cpu", "float32", 4, 600));
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  private static int[] randomIds(SplittableRandom rnd, int n) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(151643);
    return ids;
  }

  @Test
  void stackedPrefillMatchesOneByOneIncludingALongChunkedPromptAndTheNextDecodeStep() {
    SplittableRandom rnd = new SplittableRandom(3);
    // the first three share one stacked pass (a 1-token prompt has no mask); 520 > PREFILL_CHUNK
    // runs alone in chunks
    int[][] prompts = {randomIds(rnd, 7), {151643}, randomIds(rnd, 30), randomIds(rnd, 520)};
    int[] slots = {2, 0, 3, 1};
    int n = prompts.length;
    float[][] alone = new float[n][];
    float[][] aloneNext = new float[n][];
    for (int i = 0; i < n; i++) {
      alone[i] = lm.prefill(slots[i], lm.embed(prompts[i]), prompts[i].length);
      aloneNext[i] = lm.decode(new int[] {slots[i]}, new int[] {Greedy.argmax(alone[i])})[0];
      lm.release(slots[i]);
    }
    float[][] embeds = new float[n][];
    int[] lens = new int[n];
    for (int i = 0; i < n; i++) {
      embeds[i] = lm.embed(prompts[i]);
      lens[i] = prompts[i].length;
    }
    float[][] stacked = lm.prefill(slots, embeds, lens);
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      assertEquals(lens[i], lm.length(slots[i]), "prompt " + i + " length");
      // the Java kernel sums every row in the same order whatever the pass: bit for bit
      assertArrayEquals(alone[i], stacked[i], "prompt " + i);
      next[i] = Greedy.argmax(stacked[i]);
      assertEquals(Greedy.argmax(alone[i]), next[i], "prompt " + i + " first id");
    }
    // the cache each prompt left behind is what a lone prefill leaves: the next step agrees too
    float[][] after = lm.decode(slots, next);
    for (int i = 0; i < n; i++) {
      assertArrayEquals(aloneNext[i], after[i], "prompt " + i + " next step");
    }
    for (int s : slots) lm.release(s);
  }

  @Test
  void aSlotTwiceOrAMismatchedLengthIsRefused() {
    float[] e = lm.embed(new int[] {1, 2});
    assertThrows(
        IllegalArgumentException.class,
        () -> lm.prefill(new int[] {1, 1}, new float[][] {e, e}, new int[] {2, 2}));
    assertThrows(
        IllegalArgumentException.class,
        () -> lm.prefill(new int[] {1, 2}, new float[][] {e, e}, new int[] {2, 3}));
    assertEquals(0, lm.length(1));
    assertEquals(0, lm.length(2));
  }
}
