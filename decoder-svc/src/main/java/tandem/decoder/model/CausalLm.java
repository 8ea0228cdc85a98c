package tandem.decoder.model;

import java.util.function.IntConsumer;

/**
 * A causal LM with a slot-based KV cache. Not thread-safe: one scheduler thread drives it. The
 * methods after {@link #length} are optional: a model that only prefills whole prompts and decodes
 * (tests' fakes) keeps their defaults, and the scheduler then prefills each prompt in one call.
 */
public interface CausalLm extends AutoCloseable {
  int vocabSize();

  int hiddenSize();

  /** KV cache slots = most sequences decoded together. */
  int slots();

  /** KV capacity per slot, tokens. */
  int maxSeqLen();

  /** Token embeddings, row-major [ids.length, hidden]. */
  float[] embed(int[] ids);

  /**
   * Prefills slot {@code slot} (positions 0..len-1, replacing whatever it held) from input
   * embeddings [len, hidden]; returns the float32 logits of the last position [vocab].
   */
  float[] prefill(int slot, float[] inputEmbeds, int len);

  /**
   * Prefills several slots (distinct) at once: prompt i fills slot slots[i] from {@code
   * inputEmbeds[i]} [lens[i], hidden]; returns each prompt's last-position logits. Same results as
   * calling {@link #prefill(int, float[], int)} for each; a model may stack the prompts into one
   * pass (this default does not).
   */
  default float[][] prefill(int[] slots, float[][] inputEmbeds, int[] lens) {
    float[][] out = new float[slots.length][];
    for (int i = 0; i < slots.length; i++) out[i] = prefill(slots[i], inputEmbeds[i], lens[i]);
    return out;
  }

  /**
   * One batched decode step: for each i, token ids[i] is appended to slot slots[i] at that slot's
   * next position. Returns logits [slots.length][vocab]. Sequences of different lengths in one step
   * are fine.
   */
  float[][] decode(int[] slots, int[] ids);

  /** Forgets the slot's contents (its length becomes 0). */
  void release(int slot);

  int length(int slot);

  @Override
  void close();

  /**
   * Whether {@link #extend} works: a step may append any number of rows to any slot after what it
   * holds (chunked prefill mixed with decode rows).
   */
  default boolean chunkedPrefill() {
    return false;
  }

  /**
   * One pass over several slots (distinct): part i appends {@code lens[i]} rows {@code embeds[i]
   * [lens[i], hidden]} at slot {@code slots[i]}'s next positions; returns for each part the logits
   * of its last row, or null where {@code wantLogits[i]} is false.
   */
  default float[][] extend(int[] slots, float[][] embeds, int[] lens, boolean[] wantLogits) {
    throw new UnsupportedOperationException("this model prefills whole prompts only");
  }

  /**
   * Positions per KV block when the KV cache is paged under a budget; 0 when slots reserve their
   * memory.
   */
  default int kvBlockTokens() {
    return 0;
  }

  /** The paged KV cache's state; null when not paged. */
  default KvStats kvStats() {
    return null;
  }

  /** Fresh KV blocks the slot needs to hold {@code tokens} positions (0 when not paged). */
  default int kvShortfall(int slot, int tokens) {
    return 0;
  }

  /** Whether full KV blocks are kept for reuse by later sequences with the same prefix. */
  default boolean prefixCaching() {
    return false;
  }

  /**
   * Starts the empty slot with the cached blocks matching the longest prefix of {@code keys}, at
   * most {@code maxBlocks}; returns the positions it now holds (a multiple of {@link
   * #kvBlockTokens}).
   */
  default int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
    return 0;
  }

  /**
   * For a prompt cached to its very end: after {@link #reuse} took every block but the last, takes
   * a private copy of the cached block under {@code key} and holds {@code positions} positions (the
   * prompt's length less one, inside that block), so that only the last position is computed again
   * (its logits give the first token) instead of the whole block. Returns the positions the slot
   * now holds, or -1 when the key is not cached or no block is free beyond {@code reserved} (the
   * slot is then as {@link #reuse} left it).
   */
  default int reuseCopy(int slot, PrefixKey key, int positions, int reserved) {
    return -1;
  }

  /** Offers the slot's first {@code keys.length} blocks (full and written) to the prefix cache. */
  default void offer(int slot, PrefixKey[] keys) {}

  /**
   * Runs {@code body.accept(i)} for every i in [0, n) and returns when all are done, on the threads
   * that compute the passes where the model has some (they are idle between passes); the scheduler
   * chooses each row's next token this way. {@code body} must not throw, nor call back into this
   * model. This default runs them one after another on the caller.
   */
  default void forEachRow(int n, IntConsumer body) {
    for (int i = 0; i < n; i++) body.accept(i);
  }
}
