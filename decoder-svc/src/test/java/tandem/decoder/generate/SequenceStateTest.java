package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

class SequenceStateTest {
  /** Every step prefers 5 > 4 > 3 > 2 > 1 > 0; 5 is the stop id. */
  private static final float[] PREFERENCE = {0f, 1f, 2f, 3f, 4f, 5f};

  static GenerationSettings greedy(int max, int min, int ngram, int... stop) {
    return new GenerationSettings(max, min, ngram, 1f, false, 1f, 0, 1f, 0, stop);
  }

  static int[] run(int[] prompt, GenerationSettings s, float[] logits) {
    SequenceState st = new SequenceState(prompt, s);
    while (true) {
      int id = st.choose(logits.clone());
      st.append(id);
      if (StopRules.after(id, st.generated(), st.length(), 1 << 20, s) != null)
        return st.generatedIds();
    }
  }

  @Test
  void noRepeatNgramAndMinNewTokensGiveTheHandCheckedIds() {
    // prompt 4 3 1, no_repeat 2, min_new 3, stop 5:
    //  step 1: last 1 never had a follower; 5 blocked (0 < 3 new)    -> 4
    //  step 2: 4 was followed by 3 in the prompt: bans {3}; 5 blocked -> 4
    //  step 3: 4 was followed by 3 and 4: bans {3, 4}; 5 blocked      -> 2
    //  step 4: 3 new tokens, 2 never had a follower                   -> 5 (stop, emitted)
    assertArrayEquals(
        new int[] {4, 4, 2, 5}, run(new int[] {4, 3, 1}, greedy(10, 3, 2, 5), PREFERENCE));
  }

  @Test
  void withoutProcessorsGreedyStopsAtOnceAndMaxNewTokensCuts() {
    assertArrayEquals(new int[] {5}, run(new int[] {4, 3, 1}, greedy(10, 0, 0, 5), PREFERENCE));
    assertArrayEquals(
        new int[] {4, 4}, run(new int[] {1}, greedy(2, 0, 0, 5), new float[] {0, 1, 2, 3, 9, 5}));
  }

  @Test
  void theNgramBanCountsThePromptAndTheGeneratedTokens() {
    // no_repeat 2 with no stop in reach: the greedy chain can never repeat a bigram.
    int[] out = run(new int[] {0}, greedy(12, 0, 2, 99), new float[] {0f, 1f, 2f, 3f, 4f, 5f});
    java.util.Set<Long> bigrams = new java.util.HashSet<>();
    int prev = 0;
    for (int id : out) {
      assertEquals(
          true, bigrams.add(((long) prev << 32) | id), "bigram repeated: " + prev + "," + id);
      prev = id;
    }
  }

  @Test
  void repetitionPenaltyAppliesToPromptTokens() {
    // 4 is best (4.0) but in the prompt; penalty 2 makes it 2.0, below 3 (3.0).
    GenerationSettings s = new GenerationSettings(1, 0, 0, 2f, false, 1f, 0, 1f, 0, new int[] {9});
    assertArrayEquals(new int[] {3}, run(new int[] {4}, s, new float[] {0, 1, 2, 3, 4}));
  }

  @Test
  void samplingIsReproducibleBySeedAndDiffersAcrossSeeds() {
    float[] flat = new float[50];
    for (int i = 0; i < flat.length; i++) flat[i] = (float) Math.sin(i);
    int[] a = run(new int[] {1}, sampling(42), flat);
    int[] b = run(new int[] {1}, sampling(42), flat);
    int[] c = run(new int[] {1}, sampling(43), flat);
    assertArrayEquals(a, b);
    assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
  }

  @Test
  void topKOneSamplingEqualsGreedy() {
    float[] row = {0.1f, 2f, 0.3f, 1.9f};
    GenerationSettings s =
        new GenerationSettings(6, 0, 0, 1f, true, 0.7f, 1, 1f, 5, new int[] {99});
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1}, run(new int[] {0}, s, row));
  }

  private static GenerationSettings sampling(long seed) {
    return new GenerationSettings(20, 0, 0, 1f, true, 1f, 0, 1f, seed, new int[] {99});
  }
}
