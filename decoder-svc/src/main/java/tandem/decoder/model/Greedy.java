package tandem.decoder.model;

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

  private Greedy() {}

  /**
   * Index of the largest value; the lowest index among equal maxima. NaN is never chosen over a
   * number.
   */
  public static int argmax(float[] logits) {
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
