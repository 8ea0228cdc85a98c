package tandem.decoder.model;

/**
 * The arithmetic of the Qwen3 forward pass and the K/V storage it reads, behind one seam: {@link JavaKernel} (CPU,
 * weights and KV cache in Java arrays, Vector API) and {@link TorchKernel} (libtorch through DJL: CUDA, and the CPU
 * reference). {@link Qwen3ForCausalLM} owns slots, lengths and validation, and drives whichever kernel was chosen;
 * arguments reaching a kernel are already checked.
 */
interface DecodeKernel extends AutoCloseable {
  /** "java" or "torch". */
  String name();

  /** The weight format held ("f32", "bf16", "q8_0"; libtorch's "f32" or "f16"). */
  String weights();

  /** Token embeddings, row-major [ids.length, hidden]. */
  float[] embed(int[] ids);

  /**
   * Rows {@code embeds [len, hidden]} are positions {@code start .. start+len-1} of {@code slot}, after the {@code
   * start} positions it already holds; writes their K/V and returns the float32 logits of the last row.
   */
  float[] prefill(int slot, int start, float[] embeds, int len);

  /** Several prompts from position 0 (distinct slots); each prompt's last-row logits. May stack them in one pass. */
  default float[][] prefill(int[] slots, float[][] embeds, int[] lens) {
    float[][] out = new float[slots.length][];
    for (int i = 0; i < slots.length; i++) out[i] = prefill(slots[i], 0, embeds[i], lens[i]);
    return out;
  }

  /** Row i ({@code embeds[i·hidden …]}) is position {@code positions[i]} of slot {@code slots[i]}; logits per row. */
  float[][] decode(int[] slots, int[] positions, float[] embeds);

  /** The slot's K/V is no longer needed (its storage may be reused). */
  void release(int slot);

  /** Bytes of weights one decode step reads (what bounds decode speed at batch 1). */
  long weightBytesPerToken();

  /**
   * Seconds to read those weights once at this machine's memory speed, measured the way the kernel reads them (the
   * same arrays, threads and instruction set), best of {@code repeats}: the floor a decode step is compared with.
   */
  double weightReadSeconds(int repeats);

  @Override
  void close();
}
