package tandem.decoder.generate;

import java.util.Arrays;

/**
 * Hugging Face's logits processors and warpers as pure functions on one row of float32 logits,
 * modified in place. HF applies them in this order (generation/utils.py {@code
 * _get_logits_processor}): repetition penalty, no-repeat n-gram, min new tokens, then (sampling
 * only) temperature, top-k, top-p. {@link SequenceState} calls them in that order; each method here
 * matches the HF class named in its comment.
 */
public final class LogitsProcessors {
  private LogitsProcessors() {}

  /**
   * RepetitionPenaltyLogitsProcessor: every distinct token of the sequence (prompt included) gets
   * its logit divided by the penalty when positive, multiplied when negative.
   */
  public static void repetitionPenalty(
      float[] logits, int[] distinctTokens, int count, float penalty) {
    if (penalty == 1f) return;
    for (int i = 0; i < count; i++) {
      int t = distinctTokens[i];
      float s = logits[t];
      logits[t] = s < 0 ? s * penalty : s / penalty;
    }
  }

  /**
   * NoRepeatNGramLogitsProcessor and MinNewTokensLengthLogitsProcessor only write -inf: this bans
   * ids.
   */
  public static void ban(float[] logits, int[] ids, int count) {
    for (int i = 0; i < count; i++) logits[ids[i]] = Float.NEGATIVE_INFINITY;
  }

  /**
   * MinNewTokensLengthLogitsProcessor: stop ids get -inf while fewer than {@code min} tokens were
   * generated.
   */
  public static void minNewTokens(float[] logits, int generated, int min, int[] stopIds) {
    if (generated < min)
      for (int id : stopIds)
        if (id >= 0 && id < logits.length) logits[id] = Float.NEGATIVE_INFINITY;
  }

  /** TemperatureLogitsWarper: divides by the temperature (float32, as torch does). */
  public static void temperature(float[] logits, float t) {
    if (t == 1f) return;
    for (int i = 0; i < logits.length; i++) logits[i] = logits[i] / t;
  }

  /**
   * TopKLogitsWarper: every logit strictly below the k-th largest becomes -inf (ties with the k-th
   * survive, as with {@code scores < topk(scores, k)[..., -1]}).
   */
  public static void topK(float[] logits, int k) {
    if (k <= 0 || k >= logits.length) return;
    float kth = kthLargest(logits, k);
    for (int i = 0; i < logits.length; i++)
      if (logits[i] < kth) logits[i] = Float.NEGATIVE_INFINITY;
  }

  /**
   * TopPLogitsWarper (min_tokens_to_keep 1): with tokens sorted ascending and cumulative softmax c,
   * a token is removed when c <= 1 - p. Equivalently a token survives iff the probability mass
   * strictly above it is < p, which lets us sort only the tokens above a threshold whose mass
   * already reaches p.
   */
  public static void topP(float[] logits, float p) {
    if (p >= 1f) return;
    float max = Float.NEGATIVE_INFINITY;
    for (float v : logits) if (v > max) max = v;
    double sum = 0;
    double[] prob = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      double e = logits[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp((double) logits[i] - max);
      prob[i] = e;
      sum += e;
    }
    for (int i = 0; i < prob.length; i++) prob[i] /= sum;
    // Find candidates: the tokens above a threshold whose total mass reaches p; lower the threshold
    // until it does.
    double threshold = 1.0 / 1024;
    int n;
    long[] keys;
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
    keys = new long[n];
    int j = 0;
    for (int i = 0; i < prob.length; i++) {
      if (prob[i] > threshold) {
        // Descending by logit, then ascending by index: encode as a sortable long.
        keys[j++] = ((long) sortableDesc(logits[i]) << 32) | i;
      }
    }
    Arrays.sort(keys);
    boolean[] keep = new boolean[logits.length];
    double above = 0;
    for (long key : keys) {
      int i = (int) key;
      if (above < p) keep[i] = true;
      else break;
      above += prob[i];
    }
    for (int i = 0; i < logits.length; i++) if (!keep[i]) logits[i] = Float.NEGATIVE_INFINITY;
  }

  /** An int that orders floats descending when compared as signed ints (NaN-free input). */
  private static int sortableDesc(float f) {
    int bits = Float.floatToIntBits(f);
    int asc = bits >= 0 ? bits : bits ^ 0x7fffffff; // ascending-ordered signed int
    return ~asc;
  }

  /** Index of the largest logit; ties go to the lowest index (torch.argmax). */
  public static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }

  static float kthLargest(float[] v, int k) {
    float[] copy = v.clone();
    Arrays.sort(copy);
    return copy[copy.length - k];
  }
}
