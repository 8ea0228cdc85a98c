package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * libtorch's paged KV storage: per layer K {@code [kvHeads, headDim, blocks, blockTokens]} (Kᵀ per
 * head) and V {@code [kvHeads, blocks, blockTokens, headDim]}, indexed by {@link KvPool} block id.
 * The block dimension sits next to the positions, so a sequence's gathered blocks are already its
 * Kᵀ {@code [kvHeads, headDim, positions]} and V {@code [kvHeads, positions, headDim]}: one copy
 * (the gather), and the reshape after it is a view. {@link KvPool} does the bookkeeping (tables,
 * references, prefix cache); this holds the values. K is stored after k_norm and RoPE. The arrays
 * are created uninitialized once, at the budget's size: on the CPU the OS commits pages as blocks
 * are first written; on CUDA the budget is reserved up front, as vLLM does.
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

  /**
   * Kᵀ of one sequence's first {@code len} positions, [kvHeads, headDim, len], gathered from its
   * blocks (int64 [nb]) into {@code step}'s scope.
   */
  NDArray keysT(int layer, NDArray blocks, int len, Step step) {
    NDArray g = step.owned(keys[layer].get(new NDIndex(":, :, {}", blocks))); // [kvH, d, nb, bt]
    Shape s = g.getShape();
    NDArray t = g.reshape(s.get(0), s.get(1), s.get(2) * blockTokens);
    return s.get(2) * blockTokens == len
        ? t
        : t.get(new NDIndex().addAllDim(2).addSliceDim(0, len));
  }

  /**
   * V of one sequence's first {@code len} positions, [kvHeads, len, headDim], like {@link #keysT}.
   */
  NDArray values(int layer, NDArray blocks, int len, Step step) {
    NDArray g = step.owned(values[layer].get(new NDIndex(":, {}", blocks))); // [kvH, nb, bt, d]
    Shape s = g.getShape();
    NDArray t = g.reshape(s.get(0), s.get(1) * blockTokens, s.get(3));
    return s.get(1) * blockTokens == len ? t : t.get(new NDIndex().addAllDim().addSliceDim(0, len));
  }

  @Override
  public void close() {
    for (int l = 0; l < keys.length; l++) {
      keys[l].close();
      values[l].close();
    }
  }
}
