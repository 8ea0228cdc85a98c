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
    double total = 0;
    for (int id : live) total += Math.exp((double) logits[id] - max);
    double u = rng.nextDouble() * total;
    double acc = 0;
    int last = -1;
    for (int id : live) {
      acc += Math.exp((double) logits[id] - max);
      last = id;
      if (u < acc) return id;
    }
    return last; // rounding left u at the very top
  }
}
