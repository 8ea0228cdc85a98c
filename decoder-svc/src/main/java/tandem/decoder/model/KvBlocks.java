package tandem.decoder.model;

import java.util.Arrays;

/**
 * The Java kernel's KV cache: fixed-size blocks of {@link #blockTokens} positions, handed to a slot as its sequence
 * grows and taken back when it is released, so memory follows the tokens actually held (nothing is reserved for
 * {@code slots × maxSeqLen}). A block id owns one K and one V array per layer, allocated the first time the id is used
 * and reused after a release.
 *
 * <p>Layout of one block, for one layer (float32): K {@code [kvHeads, headDim, blockTokens]} (Kᵀ per head, so a
 * score loop reads positions contiguously for each feature) and V {@code [kvHeads, blockTokens, headDim]} (rows of
 * V, as the weighted sum reads them). K is stored after k_norm and RoPE. Position p of a slot is entry {@code p %
 * blockTokens} of its block {@code p / blockTokens}.
 */
final class KvBlocks {
  final int layers;
  final int kvHeads;
  final int headDim;
  final int blockTokens;
  /** Floats in one block's K (or V) array of one layer. */
  final int blockFloats;
  private final int maxBlocks;
  private float[][][] k = new float[0][][]; // [block id][layer]
  private float[][][] v = new float[0][][];
  private int[] free = new int[0];
  private int freeCount;
  private int created;
  private final int[][] table; // slot → block ids
  private final int[] held; // blocks per slot

  KvBlocks(int layers, int kvHeads, int headDim, int blockTokens, int slots, int maxSeqLen) {
    this.layers = layers;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.blockTokens = blockTokens;
    this.blockFloats = kvHeads * headDim * blockTokens;
    int perSlot = (maxSeqLen + blockTokens - 1) / blockTokens;
    this.maxBlocks = slots * perSlot;
    this.table = new int[slots][perSlot];
    this.held = new int[slots];
  }

  /** Makes slot's blocks cover positions [0, tokens). */
  void ensure(int slot, int tokens) {
    int need = (tokens + blockTokens - 1) / blockTokens;
    if (need > table[slot].length) {
      throw new IllegalStateException("slot " + slot + " cannot hold " + tokens + " tokens");
    }
    while (held[slot] < need) table[slot][held[slot]++] = take();
  }

  /** Gives the slot's blocks back. */
  void release(int slot) {
    for (int i = 0; i < held[slot]; i++) give(table[slot][i]);
    held[slot] = 0;
  }

  /** K array of block b (b-th of the slot) for a layer. */
  float[] keys(int layer, int slot, int b) {
    return k[table[slot][b]][layer];
  }

  float[] values(int layer, int slot, int b) {
    return v[table[slot][b]][layer];
  }

  /** Blocks held by sequences now. */
  int blocksInUse() {
    return created - freeCount;
  }

  /** Bytes of K/V arrays allocated so far (in use or free for reuse). */
  long bytesAllocated() {
    return (long) created * layers * 2 * blockFloats * 4;
  }

  /** Bytes one position takes across all layers. */
  long bytesPerToken() {
    return (long) layers * 2 * kvHeads * headDim * 4;
  }

  private int take() {
    if (freeCount > 0) return free[--freeCount];
    if (created >= maxBlocks) throw new IllegalStateException("KV cache is out of blocks (" + maxBlocks + ")");
    int id = created;
    if (id >= k.length) {
      int n = Math.max(16, k.length * 2);
      k = Arrays.copyOf(k, n);
      v = Arrays.copyOf(v, n);
    }
    try {
      k[id] = new float[layers][blockFloats];
      v[id] = new float[layers][blockFloats];
    } catch (OutOfMemoryError e) {
      // the heap holds the weights and the KV cache: a full heap fails this step's sequences, not the server
      k[id] = null;
      throw new IllegalStateException("the KV cache has no room for another block on the Java heap ("
          + bytesAllocated() / (1 << 20) + " MiB of KV held; -Xmx " + Runtime.getRuntime().maxMemory() / (1 << 20)
          + " MiB): lower the decoder's max batch or max sequence length, or give the JVM more heap");
    }
    created++;
    return id;
  }

  private void give(int id) {
    if (freeCount == free.length) free = Arrays.copyOf(free, Math.max(16, free.length * 2));
    free[freeCount++] = id;
  }
}
