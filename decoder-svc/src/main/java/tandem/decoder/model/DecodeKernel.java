package tandem.decoder.model;

/**
 * The arithmetic of the Qwen3 forward pass and the K/V storage it reads, behind one seam: {@link
 * JavaKernel} (CPU, weights and KV cache in Java arrays, Vector API) and {@link TorchKernel}
 * (libtorch through DJL: CUDA, and the CPU reference). {@link Qwen3ForCausalLM} owns slots, lengths
 * and validation, and drives whichever kernel was chosen; arguments reaching a kernel are already
 * checked.
 */
interface DecodeKernel extends AutoCloseable {
  /** "java" or "torch". */
  String name();

  /** The weight format held ("f32", "bf16", "q8_0"; libtorch's "f32" or "f16"). */
  String weights();

  /**
   * What runs the passes, for the startup log: the kernel, its instruction width or device, its
   * weight format.
   */
  String describe();

  /** Token embeddings, row-major [ids.length, hidden]. */
  float[] embed(int[] ids);

  /**
   * Rows {@code embeds [len, hidden]} are positions {@code start .. start+len-1} of {@code slot},
   * after the {@code start} positions it already holds; writes their K/V and returns the float32
   * logits of the last row.
   */
  float[] prefill(int slot, int start, float[] embeds, int len);

  /**
   * Several prompts from position 0 (distinct slots); each prompt's last-row logits. May stack them
   * in one pass.
   */
  default float[][] prefill(int[] slots, float[][] embeds, int[] lens) {
    float[][] out = new float[slots.length][];
    for (int i = 0; i < slots.length; i++) out[i] = prefill(slots[i], 0, embeds[i], lens[i]);
    return out;
  }

  /**
   * Row i ({@code embeds[i·hidden …]}) is position {@code positions[i]} of slot {@code slots[i]};
   * logits per row.
   */
  float[][] decode(int[] slots, int[] positions, float[] embeds);

  /** The slot's K/V is no longer needed (its storage may be reused). */
  void release(int slot);

  /**
   * Positions per KV block when the kernel pages its KV cache (block budget, prefix cache, one pass
   * over rows of any (slot, position) mix through {@link #forward}); 0 when it does not (libtorch:
   * slot-major, reserved up front).
   */
  default int kvBlockTokens() {
    return 0;
  }

  /**
   * The forward pass over rows that are each (slot, position): x [n, hidden] in, logits out for the
   * rows listed in {@code logitRows}, in that order. A slot's rows are consecutive positions
   * following what it holds. Paged kernels only.
   */
  default float[][] forward(int[] slots, int[] positions, float[] x, int[] logitRows) {
    throw new UnsupportedOperationException(name() + " kernel has no mixed forward");
  }

  /** The paged KV cache's state; null when the kernel does not page. */
  default KvStats kvStats() {
    return null;
  }

  /** Fresh blocks the slot needs to hold positions [0, tokens). Paged kernels only. */
  default int kvShortfall(int slot, int tokens) {
    return 0;
  }

  /**
   * Starts an empty slot with the cached blocks matching the longest prefix of {@code keys} (at
   * most maxBlocks).
   */
  default int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
    return 0;
  }

  /** Offers the slot's first {@code keys.length} (full, written) blocks to the prefix cache. */
  default void offer(int slot, PrefixKey[] keys) {}

  /** Drops every unreferenced cached block. */
  default void clearPrefixCache() {}

  /** Bytes of weights one decode step reads (what bounds decode speed at batch 1). */
  long weightBytesPerToken();

  /**
   * Seconds to read those weights once at this machine's memory speed, measured the way the kernel
   * reads them (the same arrays, threads and instruction set), best of {@code repeats}: the floor a
   * decode step is compared with.
   */
  double weightReadSeconds(int repeats);

  @Override
  void close();
}
