package tandem.decoder.generate;

import java.util.random.RandomGenerator;

/**
 * The last step of generation: argmax, or one draw from the softmax of the (warped) logits with a
 * passed-in RNG.
 */
public final class Sampler {
  private Sampler() {}

  /**
   * Draws an index with probability softmax(logits). -inf logits are never drawn. The draw uses one
   * {@code nextDouble()} of {@code rng}, so a seeded generator gives a reproducible stream.
   */
  public static int sample(float[] logits, RandomGenerator rng) {
    return sample(logits, LogitsProcessors.liveIds(logits), rng);
  }

  /**
   * {@link #sample(float[], RandomGenerator)} given the ids whose logit is above -inf, ascending
   * (after top-k a few dozen of the vocabulary): the -inf ids were skipped anyway, so the sums and
   * the draw are the same. Past one id in 16 the exponentials are float32 in vectors, as torch's
   * softmax, within 2 ulp of the double ones; the sums stay double, in id order.
   */
  static int sample(float[] logits, int[] live, RandomGenerator rng) {
    float max = Float.NEGATIVE_INFINITY;
    for (int id : live) if (logits[id] > max) max = logits[id];
    if (max == Float.NEGATIVE_INFINITY) throw new IllegalStateException("every token is banned");
    double total = 0;
    if (wholeRow(live.length, logits.length)) {
      // top-k off: every e^(v - max) of the row at once, in vectors (2.8 ms a row in double)
      float[] e = rowScratch(logits.length);
      tandem.decoder.model.Exp.shifted(logits, max, e);
      for (int id : live) total += e[id];
      double u = rng.nextDouble() * total;
      double acc = 0;
      for (int id : live) {
        acc += e[id];
        if (u < acc) return id;
      }
      return live[live.length - 1]; // rounding left u at the very top
    }
    double[] e = new double[live.length];
    for (int j = 0; j < live.length; j++) {
      e[j] = Math.exp((double) logits[live[j]] - max);
      total += e[j];
    }
    double u = rng.nextDouble() * total;
    double acc = 0;
    for (int j = 0; j < live.length; j++) {
      acc += e[j];
      if (u < acc) return live[j];
    }
    return live[live.length - 1]; // rounding left u at the very top
  }

  /**
   * Whether exponentials of {@code live} ids out of a row of {@code n} are cheaper taken over the
   * whole row in vectors ({@link tandem.decoder.model.Exp#shifted}) than one by one in double: past
   * one id in 16 (top-k off, or a large top-k), where a vector of 16 lanes costs about one
   * Math.exp.
   */
  static boolean wholeRow(int live, int n) {
    return live > n / 16;
  }

  private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

  /** The calling thread's buffer of at least n floats (contents stale). */
  static float[] rowScratch(int n) {
    float[] b = ROW.get();
    if (b.length < n) {
      b = new float[n];
      ROW.set(b);
    }
    return b;
  }
}
