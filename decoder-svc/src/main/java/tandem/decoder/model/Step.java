package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * What one libtorch forward pass needs besides the hidden states: which slots and positions its
 * rows belong to, the RoPE rows for them ({@code cos}, {@code sin}: {@code [count, 1, headDim]}, as
 * HF's {@code apply_rotary_pos_emb} takes them), the causal masks of prompt rows, and the scope
 * that owns every intermediate tensor of the pass. One of three kinds:
 *
 * <ul>
 *   <li>{@link Chunk}: rows = consecutive positions {@code start .. start+count-1} of one slot;
 *   <li>{@link Stacked}: several prompts from position 0, one after another ({@code lens[i]} rows
 *       for {@code slots[i]});
 *   <li>{@link Decode}: row i = the next position of {@code slots[i]}.
 * </ul>
 */
sealed interface Step extends AutoCloseable permits Step.Chunk, Step.Stacked, Step.Decode {
  /** Owns every tensor of the pass; closing the step frees them. */
  NDManager manager();

  /** Rows in this pass. */
  int count();

  NDArray cos();

  NDArray sin();

  /**
   * Results of an op on a long-lived array (weights, cache, tables) belong to that array's manager;
   * every such result is moved into this step's scope so that closing the step frees it.
   */
  default NDArray owned(NDArray a) {
    a.attach(manager());
    return a;
  }

  @Override
  default void close() {
    manager().close();
  }

  /**
   * A prefill chunk of one slot; {@code mask} is additive {@code [count, start + count]}, null for
   * one row.
   */
  record Chunk(
      NDManager manager, int slot, int start, int count, NDArray mask, NDArray cos, NDArray sin)
      implements Step {}

  /**
   * Stacked prompts from position 0; {@code masks[i]} is prompt i's causal mask (null for a 1-token
   * prompt).
   */
  record Stacked(
      NDManager manager,
      int[] slots,
      int[] lens,
      NDArray[] masks,
      int count,
      NDArray cos,
      NDArray sin)
      implements Step {}

  /**
   * One row per slot at {@code positions[i]}; {@code slotIdx} and {@code posIdx} are them as int64
   * {@code [B]}.
   */
  record Decode(
      NDManager manager,
      int[] slots,
      int[] positions,
      NDArray slotIdx,
      NDArray posIdx,
      NDArray cos,
      NDArray sin)
      implements Step {
    @Override
    public int count() {
      return slots.length;
    }
  }

  static Chunk prefill(
      NDManager parent, int slot, int start, int count, Qwen3RotaryEmbedding rope) {
    NDManager m = parent.newSubManager();
    NDIndex rows = new NDIndex().addSliceDim(start, start + count);
    NDArray cos = attach(m, rope.cos.get(rows)).expandDims(1);
    NDArray sin = attach(m, rope.sinSigned.get(rows)).expandDims(1);
    NDArray mask = count > 1 ? causalMask(m, start, count, rope.cos.getDataType()) : null;
    return new Chunk(m, slot, start, count, mask, cos, sin);
  }

  /** Prompt i fills slot slots[i] from position 0 with lens[i] rows; rows are stacked in order. */
  static Stacked prefillBatch(
      NDManager parent, int[] slots, int[] lens, Qwen3RotaryEmbedding rope) {
    NDManager m = parent.newSubManager();
    int rows = 0;
    for (int len : lens) rows += len;
    long[] p = new long[rows];
    int r = 0;
    for (int len : lens) for (int i = 0; i < len; i++) p[r++] = i;
    NDArray pIdx = m.create(p);
    if (!pIdx.getDevice().equals(rope.cos.getDevice()))
      pIdx = pIdx.toDevice(rope.cos.getDevice(), false);
    NDIndex table = new NDIndex("{}", pIdx);
    NDArray cos = attach(m, rope.cos.get(table)).expandDims(1);
    NDArray sin = attach(m, rope.sinSigned.get(table)).expandDims(1);
    NDArray[] masks = new NDArray[lens.length];
    for (int i = 0; i < lens.length; i++) {
      masks[i] = lens[i] > 1 ? causalMask(m, 0, lens[i], rope.cos.getDataType()) : null;
    }
    return new Stacked(m, slots, lens, masks, rows, cos, sin);
  }

  static Decode decode(NDManager parent, int[] slots, int[] positions, Qwen3RotaryEmbedding rope) {
    NDManager m = parent.newSubManager();
    long[] s = new long[slots.length];
    long[] p = new long[slots.length];
    for (int i = 0; i < slots.length; i++) {
      s[i] = slots[i];
      p[i] = positions[i];
    }
    NDArray sIdx = m.create(s);
    NDArray pIdx = m.create(p);
    if (!sIdx.getDevice().equals(rope.cos.getDevice())) {
      sIdx = sIdx.toDevice(rope.cos.getDevice(), false);
      pIdx = pIdx.toDevice(rope.cos.getDevice(), false);
    }
    NDIndex rows = new NDIndex("{}", pIdx);
    NDArray cos = attach(m, rope.cos.get(rows)).expandDims(1);
    NDArray sin = attach(m, rope.sinSigned.get(rows)).expandDims(1);
    return new Decode(m, slots, positions, sIdx, pIdx, cos, sin);
  }

  private static NDArray attach(NDManager m, NDArray a) {
    a.attach(m);
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
}
