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
   * the draw are the same.
   */
  static int sample(float[] logits, int[] live, RandomGenerator rng) {
    float max = Float.NEGATIVE_INFINITY;
    for (int id : live) if (logits[id] > max) max = logits[id];
    if (max == Float.NEGATIVE_INFINITY) throw new IllegalStateException("every token is banned");
    // each e^(v - max) once: with top-k off the live ids are the whole vocabulary, and the second
    // pass computing them again took a third of the draw (4.0 ms a row of 151,936)
    double[] e = new double[live.length];
    double total = 0;
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
}
