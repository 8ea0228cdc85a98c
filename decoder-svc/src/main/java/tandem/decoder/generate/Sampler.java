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
    float max = Float.NEGATIVE_INFINITY;
    for (float v : logits) if (v > max) max = v;
    if (max == Float.NEGATIVE_INFINITY) throw new IllegalStateException("every token is banned");
    double total = 0;
    for (float v : logits) if (v != Float.NEGATIVE_INFINITY) total += Math.exp((double) v - max);
    double u = rng.nextDouble() * total;
    double acc = 0;
    int last = -1;
    for (int i = 0; i < logits.length; i++) {
      if (logits[i] == Float.NEGATIVE_INFINITY) continue;
      acc += Math.exp((double) logits[i] - max);
      last = i;
      if (u < acc) return i;
    }
    return last; // rounding left u at the very top
  }
}
