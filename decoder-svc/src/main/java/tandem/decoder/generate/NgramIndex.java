package tandem.decoder.generate;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The n-grams of a growing sequence, for NoRepeatNGramLogitsProcessor. Each append costs O(n), so
 * the ban set of a step is found without rescanning the whole sequence (prompts of a thousand image
 * tokens would make that the dominant per-step cost). {@link #bannedReference} is HF's rescanning
 * algorithm, kept for tests.
 */
public final class NgramIndex {
  private final int n;
  private final Map<Key, IntSet> next = new HashMap<>();

  public NgramIndex(int n) {
    if (n < 1) throw new IllegalArgumentException("n-gram size must be >= 1, got " + n);
    this.n = n;
  }

  /**
   * Records the n-gram that ends at {@code seq[len - 1]} (call after each append, with len = new
   * length).
   */
  public void onAppend(int[] seq, int len) {
    if (len < n) return;
    next.computeIfAbsent(new Key(seq, len - n, n - 1), k -> new IntSet()).add(seq[len - 1]);
  }

  /**
   * Tokens banned as the next token of {@code seq[0..len)}: every token that followed the last n-1
   * tokens somewhere before. Returns the count written into {@code out} (sized at least to the
   * vocabulary... or the number of distinct followers).
   */
  public int banned(int[] seq, int len, int[] out) {
    if (len + 1 < n) return 0;
    IntSet s = next.get(new Key(seq, len - n + 1, n - 1));
    if (s == null) return 0;
    System.arraycopy(s.items, 0, out, 0, s.size);
    return s.size;
  }

  /** Upper bound of {@link #banned}'s count for this sequence. */
  public int maxBanned(int[] seq, int len) {
    if (len + 1 < n) return 0;
    IntSet s = next.get(new Key(seq, len - n + 1, n - 1));
    return s == null ? 0 : s.size;
  }

  /**
   * Hugging Face's {@code _get_ngrams} + {@code _get_generated_ngrams}: rescans the whole sequence.
   */
  public static int[] bannedReference(int[] seq, int len, int n) {
    if (len + 1 < n) return new int[0];
    int[] prefix = Arrays.copyOfRange(seq, len - n + 1, len);
    IntSet out = new IntSet();
    for (int i = 0; i + n - 1 < len; i++) {
      if (Arrays.equals(seq, i, i + n - 1, prefix, 0, n - 1)) out.add(seq[i + n - 1]);
    }
    return Arrays.copyOf(out.items, out.size);
  }

  /** A copy of n-1 ids, hashable. */
  private static final class Key {
    final int[] ids;
    final int hash;

    Key(int[] seq, int from, int len) {
      ids = Arrays.copyOfRange(seq, from, from + len);
      hash = Arrays.hashCode(ids);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && Arrays.equals(ids, k.ids);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  /** Insertion-ordered set of ints; small in practice (the followers of one (n-1)-gram). */
  static final class IntSet {
    int[] items = new int[2];
    int size;

    void add(int v) {
      for (int i = 0; i < size; i++) if (items[i] == v) return;
      if (size == items.length) items = Arrays.copyOf(items, size * 2);
      items[size++] = v;
    }
  }
}
