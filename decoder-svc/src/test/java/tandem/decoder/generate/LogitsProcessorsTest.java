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

  /** Rows with what real logits and broken ones hold: ties, ±0, -inf runs, NaN now and then. */
  private static float[] awkwardRow(java.util.SplittableRandom r, int n) {
    float[] row = new float[n];
    for (int i = 0; i < n; i++) {
      int kind = r.nextInt(20);
      row[i] =
          switch (kind) {
            case 0 -> NEG;
            case 1 -> 0f;
            case 2 -> -0f;
            case 3 -> (float) r.nextInt(4); // ties
            default -> (float) r.nextGaussian() * 4;
          };
    }
    if (r.nextInt(4) == 0) row[r.nextInt(n)] = Float.NaN;
    return row;
  }

  @Test
  void kthLargestIsTheElementASortedCopyHoldsAtLengthMinusK() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(11);
    for (int trial = 0; trial < 400; trial++) {
      int n = 1 + r.nextInt(trial < 300 ? 60 : 5000);
      float[] row = awkwardRow(r, n);
      float[] sorted = row.clone();
      java.util.Arrays.sort(sorted);
      for (int k0 : new int[] {1, 2, 1 + r.nextInt(n), n / 2 + 1, n}) {
        int k = Math.min(k0, n);
        float expected = sorted[n - k];
        float got = LogitsProcessors.kthLargest(row, k);
        assertEquals(
            Float.floatToIntBits(expected),
            Float.floatToIntBits(got),
            "trial " + trial + ", n " + n + ", k " + k + ": " + expected + " vs " + got);
      }
    }
  }

  @Test
  void topKOnAVocabularyKeepsExactlyWhatTheFullSortKeeps() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(12);
    for (int k : new int[] {1, 20, 50, 1000}) {
      float[] row = awkwardRow(r, 151936);
      float[] sorted = row.clone();
      java.util.Arrays.sort(sorted);
      float kth = sorted[row.length - k];
      float[] expected = row.clone();
      for (int i = 0; i < expected.length; i++) if (expected[i] < kth) expected[i] = NEG;
      float[] got = row.clone();
      LogitsProcessors.topK(got, k);
      assertArrayEquals(expected, got, "k " + k); // bit for bit: -0 is not 0 here
    }
  }

  @Test
  void topPOverTheLiveTokensDecidesAsThePassOverTheWholeVocabularyDid() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(13);
    for (int trial = 0; trial < 60; trial++) {
      int n = trial < 40 ? 1 + r.nextInt(300) : 151936;
      float[] row = awkwardRow(r, n);
      if (trial % 3 == 0) LogitsProcessors.topK(row, 1 + r.nextInt(Math.min(n, 60)));
      if (trial == 7) java.util.Arrays.fill(row, NEG);
      float p = new float[] {0.01f, 0.5f, 0.8f, 0.95f, 0.999f}[trial % 5];
      float[] expected = row.clone();
      topPOverTheWholeVocabulary(expected, p);
      float[] got = row.clone();
      LogitsProcessors.topP(got, p);
      assertArrayEquals(expected, got, "trial " + trial + ", p " + p); // bit for bit
    }
  }

  /**
   * The implementation topP had before it skipped -inf tokens (commit 9dde5c3), kept as the oracle:
   * every token of the vocabulary gets a probability (0 for -inf) and every pass visits them all.
   */
  private static void topPOverTheWholeVocabulary(float[] logits, float p) {
    float max = NEG;
    for (float v : logits) if (v > max) max = v;
    double sum = 0;
    double[] prob = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      double e = logits[i] == NEG ? 0 : Math.exp((double) logits[i] - max);
      prob[i] = e;
      sum += e;
    }
    for (int i = 0; i < prob.length; i++) prob[i] /= sum;
    double threshold = 1.0 / 1024;
    int n;
    while (true) {
      double mass = 0;
      n = 0;
      for (double v : prob)
        if (v > threshold) {
          mass += v;
          n++;
        }
      if (mass >= p || threshold == 0) break;
      threshold = threshold < 1e-30 ? 0 : threshold / 1024;
    }
    Integer[] cand = new Integer[n];
    int j = 0;
    for (int i = 0; i < prob.length; i++) if (prob[i] > threshold) cand[j++] = i;
    // descending by logit (Float.compare order, NaN-free rows sort as the sortable ints did), then
    // ascending by id
    java.util.Arrays.sort(
        cand,
        (a, b) -> {
          int c = Float.compare(logits[b], logits[a]);
          return c != 0 ? c : Integer.compare(a, b);
        });
    boolean[] keep = new boolean[logits.length];
    double above = 0;
    for (int i : cand) {
      if (above < p) keep[i] = true;
      else break;
      above += prob[i];
    }
    for (int i = 0; i < logits.length; i++) if (!keep[i]) logits[i] = NEG;
  }

  @Test
  void theSampledPathOverLiveIdsDrawsWhatThePassesOverTheWholeVocabularyDrew() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(14);
    for (int trial = 0; trial < 200; trial++) {
      int n = trial < 150 ? 2 + r.nextInt(400) : 151936;
      float[] row = awkwardRow(r, n);
      row[r.nextInt(n)] = 5f; // at least one live token
      for (int i = 0; i < n; i++) if (Float.isNaN(row[i])) row[i] = 1f; // a NaN row cannot draw
      float t = new float[] {0.3f, 0.7f, 1f, 1.5f}[trial % 4];
      int k = new int[] {0, 1, 20, 50, n}[trial % 5];
      float p = new float[] {1f, 0.95f, 0.5f, 0.01f}[(trial / 5) % 4];
      long seed = r.nextLong();

      float[] expected = row.clone();
      LogitsProcessors.temperature(expected, t);
      if (k > 0 && k < n) {
        float[] sorted = expected.clone();
        java.util.Arrays.sort(sorted);
        float kth = sorted[n - k];
        for (int i = 0; i < n; i++) if (expected[i] < kth) expected[i] = NEG;
      }
      if (p < 1f) topPOverTheWholeVocabulary(expected, p);
      int want = drawOverTheWholeVocabulary(expected, new java.util.SplittableRandom(seed));

      float[] got = row.clone();
      LogitsProcessors.temperature(got, t);
      int[] live = LogitsProcessors.topKLive(got, k);
      live = LogitsProcessors.topP(got, p, live);
      int drawn = Sampler.sample(got, live, new java.util.SplittableRandom(seed));
      assertEquals(
          want, drawn, "trial " + trial + ", n " + n + ", t " + t + ", k " + k + ", p " + p);
      assertArrayEquals(expected, got, "trial " + trial);
      assertArrayEquals(LogitsProcessors.liveIds(got), live, "trial " + trial);
    }
  }

  /** The draw as Sampler made it before it took live ids: every pass over the whole row. */
  private static int drawOverTheWholeVocabulary(
      float[] logits, java.util.random.RandomGenerator rng) {
    float max = NEG;
    for (float v : logits) if (v > max) max = v;
    double total = 0;
    for (float v : logits) if (v != NEG) total += Math.exp((double) v - max);
    double u = rng.nextDouble() * total;
    double acc = 0;
    int last = -1;
    for (int i = 0; i < logits.length; i++) {
      if (logits[i] == NEG) continue;
      acc += Math.exp((double) logits[i] - max);
      last = i;
      if (u < acc) return i;
    }
    return last;
  }

  @Test
  void argmaxNeverPicksANaNOverANumber() {
    assertEquals(2, LogitsProcessors.argmax(new float[] {Float.NaN, 1f, 3f, Float.NaN}));
    assertEquals(0, LogitsProcessors.argmax(new float[] {Float.NaN, Float.NaN}));
    assertEquals(0, LogitsProcessors.argmax(new float[0]));
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
