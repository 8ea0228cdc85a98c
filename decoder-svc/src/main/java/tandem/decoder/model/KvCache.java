package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Preallocated per-layer K {@code [slots, kvHeads, headDim, maxSeqLen]} and V {@code [slots,
 * kvHeads, maxSeqLen, headDim]}, written in place and never regrown. Head-major within a slot so
 * that {@code K[slot, :, :, 0:len]} (already Kᵀ, ready for q·Kᵀ) and {@code V[slot, :, 0:len, :]}
 * are strided views that matmul reads without a copy or a transpose op. K is stored after k_norm
 * and RoPE. The arrays are created uninitialized: nothing ever reads a position at or beyond a
 * slot's length, and untouched pages are never committed by the OS.
 */
final class KvCache implements AutoCloseable {
  final NDArray[] keys;
  final NDArray[] values;
  final int slots;
  final int maxSeqLen;

  KvCache(
      NDManager manager,
      int layers,
      int slots,
      int kvHeads,
      int maxSeqLen,
      int headDim,
      DataType dtype) {
    this.slots = slots;
    this.maxSeqLen = maxSeqLen;
    this.keys = new NDArray[layers];
    this.values = new NDArray[layers];
    Shape kShape = new Shape(slots, kvHeads, headDim, maxSeqLen);
    Shape vShape = new Shape(slots, kvHeads, maxSeqLen, headDim);
    for (int l = 0; l < layers; l++) {
      keys[l] = manager.create(kShape, dtype);
      values[l] = manager.create(vShape, dtype);
    }
  }

  /** Writes k, v [C, kvHeads, headDim] at positions start..start+C-1 of one slot. */
  void writeRange(int layer, int slot, int start, NDArray k, NDArray v) {
    long end = start + k.getShape().get(0);
    keys[layer].set(
        new NDIndex().addIndices(slot).addAllDim().addAllDim().addSliceDim(start, end),
        k.transpose(1, 2, 0));
    values[layer].set(
        new NDIndex().addIndices(slot).addAllDim().addSliceDim(start, end), v.transpose(1, 0, 2));
  }

  /**
   * Writes k, v [B, kvHeads, headDim]: row i goes to slot slotIdx[i] at position posIdx[i] (int64
   * [B] arrays).
   */
  void writeScattered(int layer, NDArray slotIdx, NDArray posIdx, NDArray k, NDArray v) {
    keys[layer].set(new NDIndex("{}, :, :, {}", slotIdx, posIdx), k);
    values[layer].set(new NDIndex("{}, :, {}", slotIdx, posIdx), v);
  }

  @Override
  public void close() {
    for (int l = 0; l < keys.length; l++) {
      keys[l].close();
      values[l].close();
    }
  }
}
