package tandem.decoder.model;

/** A causal LM with a preallocated, slot-based KV cache. Not thread-safe: one scheduler thread drives it. */
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
   * Prefills slot {@code slot} (positions 0..len-1, replacing whatever it held) from input embeddings [len, hidden];
   * returns the float32 logits of the last position [vocab].
   */
  float[] prefill(int slot, float[] inputEmbeds, int len);

  /**
   * Prefills several slots (distinct) at once: prompt i fills slot slots[i] from {@code inputEmbeds[i]} [lens[i],
   * hidden]; returns each prompt's last-position logits. Same results as calling {@link #prefill(int, float[], int)}
   * for each; a model may stack the prompts into one pass (this default does not).
   */
  default float[][] prefill(int[] slots, float[][] inputEmbeds, int[] lens) {
    float[][] out = new float[slots.length][];
    for (int i = 0; i < slots.length; i++) out[i] = prefill(slots[i], inputEmbeds[i], lens[i]);
    return out;
  }

  /**
   * One batched decode step: for each i, token ids[i] is appended to slot slots[i] at that slot's next position.
   * Returns logits [slots.length][vocab]. Sequences of different lengths in one step are fine.
   */
  float[][] decode(int[] slots, int[] ids);

  /** Forgets the slot's contents (its length becomes 0). */
  void release(int slot);

  int length(int slot);

  @Override
  void close();
}
