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
    topKLive(logits, k);
  }

  /**
   * {@link #topK}, returning the ids still live after it (logit above -inf, NaN included),
   * ascending: the only ids top-p and the sampler need to visit.
   */
  static int[] topKLive(float[] logits, int k) {
    if (k <= 0 || k >= logits.length) return liveIds(logits);
    float kth = kthLargest(logits, k);
    int[] live = new int[Math.min(logits.length, 2 * k + 16)];
    int m = 0;
    for (int i = 0; i < logits.length; i++) {
      if (logits[i] < kth) logits[i] = Float.NEGATIVE_INFINITY;
      else if (logits[i] != Float.NEGATIVE_INFINITY) {
        if (m == live.length) live = Arrays.copyOf(live, Math.min(logits.length, 2 * m));
        live[m++] = i;
      }
    }
    return Arrays.copyOf(live, m);
  }

  /** The ids whose logit is above -inf (NaN included), ascending. */
  static int[] liveIds(float[] logits) {
    int m = 0;
    for (float v : logits) if (v != Float.NEGATIVE_INFINITY) m++;
    int[] live = new int[m];
    m = 0;
    for (int i = 0; i < logits.length; i++) if (logits[i] != Float.NEGATIVE_INFINITY) live[m++] = i;
    return live;
  }

  /**
   * TopPLogitsWarper (min_tokens_to_keep 1): with tokens sorted ascending and cumulative softmax c,
   * a token is removed when c <= 1 - p. Equivalently a token survives iff the probability mass
   * strictly above it is < p, which lets us sort only the tokens above a threshold whose mass
   * already reaches p.
   */
  public static void topP(float[] logits, float p) {
    if (p >= 1f) return;
    topP(logits, p, liveIds(logits));
  }

  /**
   * {@link #topP} given the ids still live ({@link #liveIds}: after top-k, a few dozen of the
   * 151,936), returning those that stay live. Each -inf token only ever added an exact 0 to the
   * sums, so visiting the live ids alone, in order, adds the same doubles in the same order as a
   * pass over the whole vocabulary.
   */
  static int[] topP(float[] logits, float p, int[] live) {
    if (p >= 1f) return live;
    int m = live.length;
    float max = Float.NEGATIVE_INFINITY;
    for (int id : live) if (logits[id] > max) max = logits[id];
    double sum = 0;
    double[] prob = new double[m];
    if (Sampler.wholeRow(m, logits.length)) {
      // top-k off: the row's exponentials in vectors, float32 as torch's softmax (in double one by
      // one they took 2.5 ms of Qwen's 151,936)
      float[] e = Sampler.rowScratch(logits.length);
      tandem.decoder.model.Exp.shifted(logits, max, e);
      for (int j = 0; j < m; j++) {
        prob[j] = e[live[j]];
        sum += prob[j];
      }
    } else {
      for (int j = 0; j < m; j++) {
        double e = Math.exp((double) logits[live[j]] - max);
        prob[j] = e;
        sum += e;
      }
    }
    for (int j = 0; j < m; j++) prob[j] /= sum;
    // Find candidates: the tokens above a threshold whose total mass reaches p; lower the threshold
    // until it does.
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
    long[] keys = new long[n];
    int c = 0;
    for (int j = 0; j < m; j++) {
      if (prob[j] > threshold) {
        // Descending by logit, then ascending by index (j grows with the index): a sortable long.
        keys[c++] = ((long) sortableDesc(logits[live[j]]) << 32) | j;
      }
    }
    Arrays.sort(keys);
    boolean[] keep = new boolean[m];
    double above = 0;
    int kept = 0;
    for (long key : keys) {
      int j = (int) key;
      if (above < p) {
        keep[j] = true;
        kept++;
      } else break;
      above += prob[j];
    }
    int[] out = new int[kept];
    kept = 0;
    for (int j = 0; j < m; j++) {
      if (keep[j]) out[kept++] = live[j];
      else logits[live[j]] = Float.NEGATIVE_INFINITY;
    }
    return out;
  }

  /** An int that orders floats descending when compared as signed ints (NaN-free input). */
  private static int sortableDesc(float f) {
    int bits = Float.floatToIntBits(f);
    int asc = bits >= 0 ? bits : bits ^ 0x7fffffff; // ascending-ordered signed int
    return ~asc;
  }

  /**
   * Index of the largest logit; ties go to the lowest index (torch.argmax). A NaN is never chosen
   * over a number. Vectorized: {@link tandem.decoder.model.Greedy#argmax}.
   */
  public static int argmax(float[] logits) {
    return tandem.decoder.model.Greedy.argmax(logits);
  }

  /**
   * The k-th largest of v, ties counted, in the order {@code Arrays.sort} gives floats (so exactly
   * the element a sorted copy holds at {@code length - k}): a min-heap of the k largest seen, where
   * a copy and a full sort of the 151,936 logits took about 9.6 ms a token (2.6 GHz Xeon), more
   * than the 1-row decode step's weight read. Most values fail the first comparison with the heap's
   * smallest and cost one compare.
   */
  static float kthLargest(float[] v, int k) {
    if (k < 1 || k > v.length)
      throw new IllegalArgumentException("k must be in [1, " + v.length + "], got " + k);
    float[] heap = Arrays.copyOf(v, k);
    for (int i = k / 2 - 1; i >= 0; i--) siftDown(heap, i, heap[i]);
    float least = heap[0];
    for (int i = k; i < v.length; i++) {
      float x = v[i];
      // x < least (neither NaN) means Float.compare(x, least) < 0: the usual quick reject
      if (!(x < least) && Float.compare(x, least) > 0) {
        siftDown(heap, 0, x);
        least = heap[0];
      }
    }
    return least;
  }

  /** Places x at slot i of the min-heap (Float.compare order) and sifts it down to its place. */
  private static void siftDown(float[] heap, int i, float x) {
    int n = heap.length;
    while (true) {
      int c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && Float.compare(heap[c + 1], heap[c]) < 0) c++;
      if (Float.compare(heap[c], x) >= 0) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = x;
  }
}
