package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * libtorch's paged KV storage: per layer K {@code [blocks, kvHeads, headDim, blockTokens]} (Kᵀ per
 * head) and V {@code [blocks, kvHeads, blockTokens, headDim]}, one row of the first dimension per
 * {@link KvPool} block id. {@link KvPool} does the bookkeeping (tables, references, prefix cache);
 * this holds the values. K is stored after k_norm and RoPE. The arrays are created uninitialized
 * once, at the budget's size: on the CPU the OS commits pages as blocks are first written; on CUDA
 * the budget is reserved up front, as vLLM does.
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
    Shape kShape = new Shape(blocks, kvHeads, headDim, blockTokens);
    Shape vShape = new Shape(blocks, kvHeads, blockTokens, headDim);
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
    keys[layer].set(new NDIndex("{}, :, :, {}", blocks, offsets), k);
    values[layer].set(new NDIndex("{}, :, {}", blocks, offsets), v);
  }

  /**
   * Kᵀ of one sequence's first {@code len} positions, [kvHeads, headDim, len], gathered from its
   * blocks (int64 [nb]) into {@code step}'s scope.
   */
  NDArray keysT(int layer, NDArray blocks, int len, Step step) {
    NDArray g = step.owned(keys[layer].get(new NDIndex("{}", blocks))); // [nb, kvH, d, bt]
    long nb = g.getShape().get(0);
    NDArray t =
        g.transpose(1, 2, 0, 3).reshape(g.getShape().get(1), g.getShape().get(2), nb * blockTokens);
    return nb * blockTokens == len ? t : t.get(new NDIndex().addAllDim(2).addSliceDim(0, len));
  }

  /**
   * V of one sequence's first {@code len} positions, [kvHeads, len, headDim], like {@link #keysT}.
   */
  NDArray values(int layer, NDArray blocks, int len, Step step) {
    NDArray g = step.owned(values[layer].get(new NDIndex("{}", blocks))); // [nb, kvH, bt, d]
    long nb = g.getShape().get(0);
    NDArray t =
        g.transpose(1, 0, 2, 3).reshape(g.getShape().get(1), nb * blockTokens, g.getShape().get(3));
    return nb * blockTokens == len ? t : t.get(new NDIndex().addAllDim().addSliceDim(0, len));
  }

  @Override
  public void close() {
    for (int l = 0; l < keys.length; l++) {
      keys[l].close();
      values[l].close();
    }
  }
}
