package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * What one forward pass needs besides the hidden states: which slots and positions its rows belong to, the RoPE rows
 * for them, the causal mask of a prefill chunk, and the scope that owns every intermediate tensor of the pass.
 * Three shapes exist: a prefill chunk (rows = consecutive positions start..start+count-1 of one slot), a batched
 * prefill (rows = positions 0..lens[i]-1 of slot slots[i], one prompt after another) and a decode step (row i = the
 * next position of slot slots[i]).
 */
final class Step implements AutoCloseable {
  final NDManager manager;
  final boolean prefill;
  final int slot; // prefill only
  final int start; // prefill only
  final int count; // rows in this pass
  final int[] slots; // decode only
  final int[] positions; // decode only
  final NDArray slotIdx; // decode only, int64 [B]
  final NDArray posIdx; // decode only, int64 [B]
  final NDArray mask; // prefill with count > 1: additive [count, start + count]
  final boolean batch; // batched prefill: slots[i] gets lens[i] rows from position 0
  final int[] lens; // batched prefill only
  final NDArray[] masks; // batched prefill only: causal mask per prompt (null for a 1-token prompt)
  final NDArray cos; // [count, 1, headDim]
  final NDArray sin; // [count, 1, headDim]

  private Step(
      NDManager manager,
      boolean prefill,
      int slot,
      int start,
      int count,
      int[] slots,
      int[] positions,
      Qwen3RotaryEmbedding rope) {
    this.manager = manager;
    this.prefill = prefill;
    this.slot = slot;
    this.start = start;
    this.count = count;
    this.slots = slots;
    this.positions = positions;
    this.batch = false;
    this.lens = null;
    this.masks = null;
    if (prefill) {
      this.slotIdx = null;
      this.posIdx = null;
      NDIndex rows = new NDIndex().addSliceDim(start, start + count);
      this.cos = owned(rope.cos.get(rows)).expandDims(1);
      this.sin = owned(rope.sinSigned.get(rows)).expandDims(1);
      this.mask = count > 1 ? causalMask(manager, start, count, rope.cos.getDataType()) : null;
    } else {
      long[] s = new long[slots.length];
      long[] p = new long[slots.length];
      for (int i = 0; i < slots.length; i++) {
        s[i] = slots[i];
        p[i] = positions[i];
      }
      NDArray sIdx = manager.create(s);
      NDArray pIdx = manager.create(p);
      if (!sIdx.getDevice().equals(rope.cos.getDevice())) {
        sIdx = sIdx.toDevice(rope.cos.getDevice(), false);
        pIdx = pIdx.toDevice(rope.cos.getDevice(), false);
      }
      this.slotIdx = sIdx;
      this.posIdx = pIdx;
      NDIndex rows = new NDIndex("{}", posIdx);
      this.cos = owned(rope.cos.get(rows)).expandDims(1);
      this.sin = owned(rope.sinSigned.get(rows)).expandDims(1);
      this.mask = null;
    }
  }

  /** Batched prefill: prompt i fills slot slots[i] from position 0 with lens[i] rows; rows are stacked in order. */
  private Step(NDManager manager, int[] slots, int[] lens, Qwen3RotaryEmbedding rope) {
    this.manager = manager;
    this.prefill = false;
    this.batch = true;
    this.slot = -1;
    this.start = 0;
    this.slots = slots;
    this.lens = lens;
    this.positions = null;
    this.slotIdx = null;
    this.posIdx = null;
    this.mask = null;
    int rows = 0;
    for (int len : lens) rows += len;
    this.count = rows;
    long[] p = new long[rows];
    int r = 0;
    for (int len : lens) for (int i = 0; i < len; i++) p[r++] = i;
    NDArray pIdx = manager.create(p);
    if (!pIdx.getDevice().equals(rope.cos.getDevice())) pIdx = pIdx.toDevice(rope.cos.getDevice(), false);
    NDIndex table = new NDIndex("{}", pIdx);
    this.cos = owned(rope.cos.get(table)).expandDims(1);
    this.sin = owned(rope.sinSigned.get(table)).expandDims(1);
    this.masks = new NDArray[lens.length];
    for (int i = 0; i < lens.length; i++) {
      masks[i] = lens[i] > 1 ? causalMask(manager, 0, lens[i], rope.cos.getDataType()) : null;
    }
  }

  static Step prefillBatch(NDManager parent, int[] slots, int[] lens, Qwen3RotaryEmbedding rope) {
    return new Step(parent.newSubManager(), slots, lens, rope);
  }

  static Step prefill(NDManager parent, int slot, int start, int count, Qwen3RotaryEmbedding rope) {
    return new Step(parent.newSubManager(), true, slot, start, count, null, null, rope);
  }

  static Step decode(NDManager parent, int[] slots, int[] positions, Qwen3RotaryEmbedding rope) {
    return new Step(parent.newSubManager(), false, -1, -1, slots.length, slots, positions, rope);
  }

  /**
   * Results of an op on a long-lived array (weights, cache, tables) belong to that array's manager; every such result
   * is moved into this step's scope so that closing the step frees it.
   */
  NDArray owned(NDArray a) {
    a.attach(manager);
    return a;
  }

  /** Key j is visible to query row i (position start+i) iff j <= start+i. */
  private static NDArray causalMask(NDManager m, int start, int count, DataType dtype) {
    int keys = start + count;
    float[] v = new float[count * keys];
    for (int i = 0; i < count; i++) {
      for (int j = start + i + 1; j < keys; j++) v[i * keys + j] = Float.NEGATIVE_INFINITY;
    }
    NDArray mask = m.create(v, new Shape(count, keys));
    return mask.toType(dtype, false);
  }

  @Override
  public void close() {
    manager.close();
  }
}
