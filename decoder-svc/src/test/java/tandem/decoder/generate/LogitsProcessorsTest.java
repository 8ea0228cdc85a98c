package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class LogitsProcessorsTest {
  private static final float NEG = Float.NEGATIVE_INFINITY;

  record Case(String name, float[] in, Consumer<float[]> op, float[] expected) {}

  @Test
  void eachProcessorMatchesItsHuggingFaceDefinitionOnHandComputedRows() {
    List<Case> cases =
        List.of(
            new Case(
                "repetition penalty divides positives and multiplies negatives of seen ids only",
                new float[] {2f, -2f, 3f, 4f},
                l -> LogitsProcessors.repetitionPenalty(l, new int[] {0, 1, 3}, 3, 2f),
                new float[] {1f, -4f, 3f, 2f}),
            new Case(
                "repetition penalty 1 changes nothing",
                new float[] {2f, -2f},
                l -> LogitsProcessors.repetitionPenalty(l, new int[] {0, 1}, 2, 1f),
                new float[] {2f, -2f}),
            new Case(
                "min_new_tokens bans stop ids before the minimum",
                new float[] {1f, 2f, 3f},
                l -> LogitsProcessors.minNewTokens(l, 2, 3, new int[] {2}),
                new float[] {1f, 2f, NEG}),
            new Case(
                "min_new_tokens lets stop ids through once reached",
                new float[] {1f, 2f, 3f},
                l -> LogitsProcessors.minNewTokens(l, 3, 3, new int[] {2}),
                new float[] {1f, 2f, 3f}),
            new Case(
                "temperature divides",
                new float[] {1f, -2f, 4f},
                l -> LogitsProcessors.temperature(l, 0.5f),
                new float[] {2f, -4f, 8f}),
            new Case(
                "top-k keeps the k largest",
                new float[] {1f, 5f, 3f, 4f},
                l -> LogitsProcessors.topK(l, 2),
                new float[] {NEG, 5f, NEG, 4f}),
            new Case(
                "top-k keeps ties with the k-th",
                new float[] {1f, 5f, 4f, 4f},
                l -> LogitsProcessors.topK(l, 2),
                new float[] {NEG, 5f, 4f, 4f}),
            new Case(
                "top-k 0 disables",
                new float[] {1f, 5f},
                l -> LogitsProcessors.topK(l, 0),
                new float[] {1f, 5f}),
            // softmax of ln(0.5), ln(0.3), ln(0.15), ln(0.05): p=0.7 keeps 0.5 and 0.3 (mass above
            // 0.15 is 0.8 >= 0.7)
            new Case(
                "top-p keeps the smallest head whose mass reaches p",
                ln(0.5, 0.3, 0.15, 0.05),
                l -> LogitsProcessors.topP(l, 0.7f),
                keep(ln(0.5, 0.3, 0.15, 0.05), 0, 1)),
            new Case(
                "top-p keeps the top token even for tiny p",
                ln(0.5, 0.3, 0.15, 0.05),
                l -> LogitsProcessors.topP(l, 0.01f),
                keep(ln(0.5, 0.3, 0.15, 0.05), 0)),
            new Case(
                "top-p 0.85 keeps three tokens",
                ln(0.05, 0.15, 0.3, 0.5),
                l -> LogitsProcessors.topP(l, 0.85f),
                keep(ln(0.05, 0.15, 0.3, 0.5), 1, 2, 3)));
    for (Case c : cases) {
      float[] row = c.in().clone();
      c.op().accept(row);
      assertArrayEquals(c.expected(), row, 1e-6f, c.name());
    }
  }

  @Test
  void topPSortsOnlyAHeadYetAgreesWithTheFullSortOnAFlatVocabulary() {
    float[] row = new float[151936];
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    for (int i = 0; i < row.length; i++) row[i] = (float) r.nextGaussian();
    float[] fast = row.clone();
    LogitsProcessors.topP(fast, 0.9f);
    // Reference: HF's ascending sort + cumulative sum.
    Integer[] idx = new Integer[row.length];
    for (int i = 0; i < idx.length; i++) idx[i] = i;
    java.util.Arrays.sort(idx, (a, b) -> Float.compare(row[a], row[b]));
    double max = Double.NEGATIVE_INFINITY, sum = 0;
    for (float v : row) max = Math.max(max, v);
    for (float v : row) sum += Math.exp(v - max);
    double cum = 0;
    int kept = 0, agree = 0;
    for (int i = 0; i < idx.length; i++) {
      cum += Math.exp(row[idx[i]] - max) / sum;
      boolean remove = cum <= 1 - 0.9 && i < idx.length - 1;
      if (!remove) kept++;
      if (remove == (fast[idx[i]] == NEG)) agree++;
    }
    assertEquals(row.length, agree, "top-p decisions differ from the full sort");
    assertEquals(true, kept > 1000 && kept < row.length, "kept " + kept);
  }

  @Test
  void argmaxBreaksTiesTowardsTheLowestIdLikeTorch() {
    assertEquals(1, LogitsProcessors.argmax(new float[] {0f, 3f, 1f, 3f}));
    assertEquals(0, LogitsProcessors.argmax(new float[] {NEG, NEG}));
  }

  private static float[] ln(double... p) {
    float[] out = new float[p.length];
    for (int i = 0; i < p.length; i++) out[i] = (float) Math.log(p[i]);
    return out;
  }

  private static float[] keep(float[] row, int... ids) {
    float[] out = new float[row.length];
    java.util.Arrays.fill(out, NEG);
    for (int i : ids) out[i] = row[i];
    return out;
  }
}
