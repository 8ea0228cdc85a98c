package tandem.decoder.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Plain greedy decoding on one slot: argmax over the full vocabulary (ties → lowest id, as
 * torch.argmax), no logits processors and no stop tokens. The reference path for fixtures, {@code
 * vlm generate} and benchmarks.
 */
public final class Greedy {
  /**
   * New ids and the logits of the last prompt position (the distribution that chose the first new
   * id).
   */
  public record Result(int[] ids, float[] promptLogits) {}

  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final int L = F.length();

  private Greedy() {}

  /**
   * Index of the largest value; the lowest index among equal maxima. NaN is never chosen over a
   * number.
   *
   * <p>Two vector passes: the maximum, then its first index. The scalar loop that was here carried
   * a dependency through the best index at every element: 151,936 logits took about 0.1 ms a row,
   * which the scheduler thread spent per stream per token while the kernel's workers waited. A row
   * with a NaN takes the scalar rule.
   */
  public static int argmax(float[] logits) {
    int n = logits.length;
    int i = 0;
    FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    for (; i <= n - L; i += L) acc = acc.max(FloatVector.fromArray(F, logits, i));
    float max = acc.reduceLanes(VectorOperators.MAX);
    for (; i < n; i++) max = Math.max(max, logits[i]);
    if (Float.isNaN(max)) return argmaxScalar(logits);
    for (i = 0; i <= n - L; i += L) {
      int first = FloatVector.fromArray(F, logits, i).compare(VectorOperators.EQ, max).firstTrue();
      if (first < L) return i + first;
    }
    for (; i < n; i++) if (logits[i] == max) return i;
    return 0;
  }

  /** {@link #argmax} one element at a time: its rule, and the way for rows with a NaN. */
  static int argmaxScalar(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best] || Float.isNaN(logits[best]) && !Float.isNaN(logits[i]))
        best = i;
    }
    return best;
  }

  /**
   * Prefills {@code prompt} into {@code slot}, then decodes {@code maxNewTokens} ids; the slot is
   * released after.
   */
  public static Result generate(CausalLm lm, int slot, int[] prompt, int maxNewTokens) {
    return generate(lm, slot, prompt, maxNewTokens, null);
  }

  /**
   * As {@link #generate(CausalLm, int, int[], int)}, handing every step's logits (step 0 = the
   * prompt's) to a tap.
   */
  public static Result generate(
      CausalLm lm, int slot, int[] prompt, int maxNewTokens, StepTap tap) {
    if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
    if (maxNewTokens < 0)
      throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
    try {
      float[] first = lm.prefill(slot, lm.embed(prompt), prompt.length);
      int[] ids = new int[maxNewTokens];
      float[] logits = first;
      for (int k = 0; k < maxNewTokens; k++) {
        if (tap != null) tap.step(k, logits);
        ids[k] = argmax(logits);
        if (k + 1 < maxNewTokens) logits = lm.decode(new int[] {slot}, new int[] {ids[k]})[0];
      }
      return new Result(ids, first);
    } finally {
      lm.release(slot);
    }
  }

  /** Receives the logits that choose new token {@code k}. */
  @FunctionalInterface
  public interface StepTap {
    void step(int k, float[] logits);
  }
}
