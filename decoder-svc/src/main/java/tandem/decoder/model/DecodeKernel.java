package tandem.decoder.model;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * The arithmetic of the Qwen3 forward pass and the K/V storage it reads, behind one seam: {@link
 * JavaKernel} (CPU, weights and KV cache in Java arrays, Vector API) and {@link TorchKernel}
 * (libtorch through DJL: CUDA, and the CPU reference), both over a paged KV cache whose bookkeeping
 * is {@link KvPool}. {@link Qwen3ForCausalLM} owns slots, lengths and validation, and drives
 * whichever kernel was chosen; arguments reaching a kernel are already checked.
 */
interface DecodeKernel extends AutoCloseable {
  /** "java" or "torch". */
  String name();

  /**
   * {@link CausalLm#forEachRow}: both kernels run the rows on the CPU compute pool; this default,
   * one after another.
   */
  default void forEachRow(int n, IntConsumer body) {
    for (int i = 0; i < n; i++) body.accept(i);
  }

  /** The weight format held ("f32", "bf16", "q8_0"; libtorch's "f32" or "f16"). */
  String weights();

  /**
   * What runs the passes, for the startup log: the kernel, its instruction width or device, its
   * weight format.
   */
  String describe();

  /** Token embeddings, row-major [ids.length, hidden]. */
  float[] embed(int[] ids);

  /** The hidden size (floats per row of {@link #forward}'s input). */
  int hiddenSize();

  /**
   * The forward pass over rows that are each (slot, position): x [n, hidden] in, logits out for the
   * rows listed in {@code logitRows}, in that order. A slot's rows are consecutive positions
   * following what it holds; every row's K/V is written before any row attends, so rows of one slot
   * see each other causally. Takes the KV blocks the rows need from the paged cache ({@link
   * KvExhaustedException} when it cannot).
   */
  float[][] forward(int[] slots, int[] positions, float[] x, int[] logitRows);

  /**
   * Rows {@code embeds [len, hidden]} are positions {@code start .. start+len-1} of {@code slot},
   * after the {@code start} positions it already holds; writes their K/V and returns the float32
   * logits of the last row. Passes of at most {@link Qwen3ForCausalLM#PREFILL_CHUNK} rows.
   */
  default float[] prefill(int slot, int start, float[] embeds, int len) {
    int h = hiddenSize();
    int chunk = Qwen3ForCausalLM.PREFILL_CHUNK;
    float[] logits = null;
    for (int s = 0; s < len; s += chunk) {
      int n = Math.min(chunk, len - s);
      int[] slots = new int[n];
      int[] pos = new int[n];
      for (int i = 0; i < n; i++) {
        slots[i] = slot;
        pos[i] = start + s + i;
      }
      float[] x = Arrays.copyOfRange(embeds, s * h, (s + n) * h);
      float[][] l = forward(slots, pos, x, s + n == len ? new int[] {n - 1} : new int[0]);
      if (s + n == len) logits = l[0];
    }
    return logits;
  }

  /**
   * Several prompts from position 0 (distinct slots); each prompt's last-row logits. Prompts of up
   * to {@link Qwen3ForCausalLM#PREFILL_BATCH_ROWS} rows in all go through one pass together, so
   * every weight matrix is multiplied once for all of them.
   */
  default float[][] prefill(int[] slots, float[][] embeds, int[] lens) {
    int n = slots.length;
    float[][] out = new float[n][];
    int i = 0;
    while (i < n) {
      int rows = lens[i];
      int j = i + 1;
      while (j < n
          && rows + lens[j] <= Qwen3ForCausalLM.PREFILL_BATCH_ROWS
          && lens[i] <= Qwen3ForCausalLM.PREFILL_CHUNK
          && lens[j] <= Qwen3ForCausalLM.PREFILL_CHUNK) {
        rows += lens[j];
        j++;
      }
      if (j == i + 1) {
        out[i] = prefill(slots[i], 0, embeds[i], lens[i]);
      } else {
        boolean[] all = new boolean[j - i];
        Arrays.fill(all, true);
        float[][] l =
            forwardParts(
                Arrays.copyOfRange(slots, i, j),
                new int[j - i],
                Arrays.copyOfRange(embeds, i, j),
                Arrays.copyOfRange(lens, i, j),
                all);
        System.arraycopy(l, 0, out, i, j - i);
      }
      i = j;
    }
    return out;
  }

  /**
   * One {@link #forward} over parts: part i is the {@code lens[i]} rows of {@code embeds[i]} at
   * positions {@code starts[i] …} of {@code slots[i]} (distinct slots). Returns the logits of each
   * part's last row where {@code wantLogits[i]}, null elsewhere.
   */
  default float[][] forwardParts(
      int[] slots, int[] starts, float[][] embeds, int[] lens, boolean[] wantLogits) {
    int h = hiddenSize();
    int n = slots.length;
    int rows = 0;
    int wanted = 0;
    for (int i = 0; i < n; i++) {
      rows += lens[i];
      if (wantLogits[i]) wanted++;
    }
    int[] rs = new int[rows];
    int[] rp = new int[rows];
    float[] x = new float[rows * h];
    int[] logitRows = new int[wanted];
    int r = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
      System.arraycopy(embeds[i], 0, x, r * h, lens[i] * h);
      for (int t = 0; t < lens[i]; t++, r++) {
        rs[r] = slots[i];
        rp[r] = starts[i] + t;
      }
      if (wantLogits[i]) logitRows[k++] = r - 1;
    }
    float[][] l = forward(rs, rp, x, logitRows);
    float[][] out = new float[n][];
    k = 0;
    for (int i = 0; i < n; i++) if (wantLogits[i]) out[i] = l[k++];
    return out;
  }

  /**
   * Row i ({@code embeds[i·hidden …]}) is position {@code positions[i]} of slot {@code slots[i]};
   * logits per row.
   */
  default float[][] decode(int[] slots, int[] positions, float[] embeds) {
    int[] all = new int[slots.length];
    for (int i = 0; i < all.length; i++) all[i] = i;
    return forward(slots, positions, embeds, all);
  }

  /** The paged KV cache's bookkeeping (block tables, references, prefix cache). */
  KvPool kvPool();

  /** The slot's KV blocks are no longer needed: they go back to the pool (or the prefix cache). */
  default void release(int slot) {
    kvPool().release(slot);
  }

  /** Positions per KV block. */
  default int kvBlockTokens() {
    return kvPool().blockTokens;
  }

  /** The paged KV cache's state. */
  default KvStats kvStats() {
    KvPool kv = kvPool();
    return new KvStats(
        kv.blockTokens,
        kv.capacity,
        kv.inUse(),
        kv.idleCached(),
        kv.available(),
        kv.blockBytes(),
        kv.bytesAllocated(),
        kv.hits(),
        kv.evictions(),
        kv.dtype.id);
  }

  /** Fresh blocks the slot needs to hold positions [0, tokens). */
  default int kvShortfall(int slot, int tokens) {
    return kvPool().shortfall(slot, tokens);
  }

  /**
   * Starts an empty slot with the cached blocks matching the longest prefix of {@code keys} (at
   * most maxBlocks).
   */
  default int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
    return kvPool().reuse(slot, keys, maxBlocks);
  }

  /**
   * Appends a private copy of the cached block under {@code key} to the slot (see {@link
   * KvPool#appendCopy}); false when the key is not cached or no block is free beyond {@code
   * reserved}. A kernel whose values live outside the pool copies them too.
   */
  default boolean appendCopy(int slot, PrefixKey key, int reserved) {
    return kvPool().appendCopy(slot, key, reserved) != null;
  }

  /** Offers the slot's first {@code keys.length} (full, written) blocks to the prefix cache. */
  default void offer(int slot, PrefixKey[] keys) {
    kvPool().offer(slot, keys);
  }

  /** Drops every unreferenced cached block. */
  default void clearPrefixCache() {
    kvPool().clearCache();
  }

  /**
   * Blocks in a KV pool: the budget over one block's bytes, but no more than every slot full to
   * {@code maxSeqLen} would take.
   *
   * @throws IllegalStateException when the budget holds no block at all: the decoder could not
   *     serve a single token, so it refuses to start and says which setting to raise
   */
  static int kvBlocks(long budget, long blockBytes, int blockTokens, DecoderOptions opts) {
    if (budget < blockBytes) {
      throw new IllegalStateException(
          "the decoder's KV budget of "
              + budget
              + " bytes holds no block of "
              + blockTokens
              + " tokens ("
              + blockBytes
              + " bytes): raise kv-cache-bytes (TANDEM_DECODER_KV_CACHE_BYTES), or"
              + " gpu-memory-fraction on CUDA");
    }
    long most = (long) opts.slots() * ((opts.maxSeqLen() + blockTokens - 1) / blockTokens);
    return (int) Math.max(1, Math.min(Math.min(most, budget / blockBytes), Integer.MAX_VALUE));
  }

  /** Bytes of weights one decode step reads (what bounds decode speed at batch 1). */
  long weightBytesPerToken();

  /**
   * Seconds to read those weights once at this machine's memory speed, measured the way the kernel
   * reads them (the same arrays, threads and instruction set), best of {@code repeats}: the floor a
   * decode step is compared with.
   */
  double weightReadSeconds(int repeats);

  /**
   * Seconds for the multiply-adds of a {@code rows}-row step's weight matrices with the weights
   * held in cache (no memory reads), best of {@code repeats}; beside {@link #weightReadSeconds} it
   * splits a multi-row step into reading and computing. NaN where the kernel cannot separate them
   * (libtorch).
   */
  default double multiplyInCacheSeconds(int rows, int repeats) {
    return Double.NaN;
  }

  @Override
  void close();
}
