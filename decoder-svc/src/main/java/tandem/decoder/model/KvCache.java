package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * libtorch's paged KV storage: per layer K {@code [kvHeads, headDim, blocks, blockTokens]} (Kᵀ per
 * head) and V {@code [kvHeads, blocks, blockTokens, headDim]}, indexed by {@link KvPool} block id.
 * The block dimension sits next to the positions, so a sequence whose blocks have consecutive ids
 * (as {@link KvPool} arranges where it can) is read as a view of these tensors, its Kᵀ {@code
 * [kvHeads, headDim, positions]} and V {@code [kvHeads, positions, headDim]}, with no copy; other
 * sequences' blocks are gathered into one copy a layer, and the reshape after it is a view. {@link
 * KvPool} does the bookkeeping (tables, references, prefix cache); this holds the values. K is
 * stored after k_norm and RoPE. The arrays are created uninitialized once, at the budget's size: on
 * the CPU the OS commits pages as blocks are first written; on CUDA the budget is reserved up
 * front, as vLLM does.
 */
final class KvCache implements AutoCloseable {
  final NDArray[] keys;
  final NDArray[] values;
  final int blockTokens;

  KvCache(
      NDManager manager,
      int layers,
      int blocks,
      int kvHeads,
      int blockTokens,
      int headDim,
      DataType dtype) {
    this.blockTokens = blockTokens;
    this.keys = new NDArray[layers];
    this.values = new NDArray[layers];
    Shape kShape = new Shape(kvHeads, headDim, blocks, blockTokens);
    Shape vShape = new Shape(kvHeads, blocks, blockTokens, headDim);
    for (int l = 0; l < layers; l++) {
      keys[l] = manager.create(kShape, dtype);
      values[l] = manager.create(vShape, dtype);
    }
  }

  /**
   * Writes k, v [B, kvHeads, headDim]: row i goes to entry {@code offsets[i]} of block {@code
   * blocks[i]} (int64 [B] arrays on the cache's device).
   */
  void write(int layer, NDArray blocks, NDArray offsets, NDArray k, NDArray v) {
    keys[layer].set(new NDIndex(":, :, {}, {}", blocks, offsets), k.transpose(1, 2, 0));
    values[layer].set(new NDIndex(":, {}, {}", blocks, offsets), v.transpose(1, 0, 2));
  }

  /** Block {@code dst} of every layer's K and V gets block {@code src}'s values. */
  void copyBlock(int src, int dst) {
    for (int l = 0; l < keys.length; l++) {
      try (NDArray k = keys[l].get(new NDIndex(":, :, {}", src));
          NDArray v = values[l].get(new NDIndex(":, {}", src))) {
        keys[l].set(new NDIndex(":, :, {}", dst), k);
        values[l].set(new NDIndex(":, {}", dst), v);
      }
    }
  }

  /**
   * Reads of a sequence's K or V as a view of the cache, and as a gathered copy, so far (K and V
   * count once each per layer).
   */
  long views;

  long gathers;

  /**
   * Kᵀ of one run's sequence over its first {@code run.keys()} positions, [kvHeads, headDim, keys],
   * in {@code step}'s scope: a view when its blocks are consecutive, else gathered from them.
   */
  NDArray keysT(int layer, Step.Run run, Step step) {
    NDArray g = step.owned(keys[layer].get(blocks(run, 2))); // [kvH, d, nb, bt]
    Shape s = g.getShape();
    NDArray t = g.reshape(s.get(0), s.get(1), s.get(2) * blockTokens);
    return s.get(2) * blockTokens == run.keys()
        ? t
        : t.get(new NDIndex().addAllDim(2).addSliceDim(0, run.keys()));
  }

  /** V of one run's sequence, [kvHeads, keys, headDim], like {@link #keysT}. */
  NDArray values(int layer, Step.Run run, Step step) {
    NDArray g = step.owned(values[layer].get(blocks(run, 1))); // [kvH, nb, bt, d]
    Shape s = g.getShape();
    NDArray t = g.reshape(s.get(0), s.get(1) * blockTokens, s.get(3));
    return s.get(1) * blockTokens == run.keys()
        ? t
        : t.get(new NDIndex().addAllDim().addSliceDim(0, run.keys()));
  }

  /** The run's blocks along dimension {@code dim}: a slice if consecutive, else its ids. */
  private NDIndex blocks(Step.Run run, int dim) {
    if (run.first() >= 0) {
      views++;
      return new NDIndex().addAllDim(dim).addSliceDim(run.first(), run.first() + run.blockCount());
    }
    gathers++;
    return new NDIndex(dim == 2 ? ":, :, {}" : ":, {}", run.blocks());
  }

  @Override
  public void close() {
    for (int l = 0; l < keys.length; l++) {
      keys[l].close();
      values[l].close();
    }
  }
}
