package tandem.decoder.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * What one libtorch forward pass needs besides the hidden states. Its rows are each (slot,
 * position), the rows of one slot consecutive positions following what the slot holds (decode rows
 * and prompt chunks mixed, as the scheduler steps them). It carries the RoPE rows ({@code cos},
 * {@code sin}: {@code [count, 1, headDim]}, as HF's {@code apply_rotary_pos_emb} takes them), where
 * each row's K/V goes in the paged cache, one {@link Run} per slot, and the scope that owns every
 * intermediate tensor of the pass.
 *
 * @param writeBlocks int64 [count]: the KV block of each row's position
 * @param writeOffsets int64 [count]: the entry within that block
 */
record Step(
    NDManager manager,
    NDArray cos,
    NDArray sin,
    NDArray writeBlocks,
    NDArray writeOffsets,
    List<Run> runs)
    implements AutoCloseable {

  /**
   * Rows {@code from .. from+count-1} of the pass, positions {@code keys-count .. keys-1} of one
   * slot: they attend over that slot's first {@code keys} positions, in its first {@code
   * blockCount} blocks, with {@code mask} additive {@code [count, keys]} (null for one row). The
   * blocks are ids {@code first .. first+blockCount-1} when they are consecutive ({@code blocks}
   * null); else {@code first} is -1 and {@code blocks} holds their ids (int64).
   */
  record Run(
      int from, int count, int keys, int blockCount, int first, NDArray blocks, NDArray mask) {}

  /**
   * Results of an op on a long-lived array (weights, cache, tables) belong to that array's manager;
   * every such result is moved into this step's scope so that closing the step frees it.
   */
  NDArray owned(NDArray a) {
    return attach(manager, a);
  }

  /** int64 values on the device of the pass. */
  NDArray longs(long[] v) {
    return onDevice(manager, v, cos.getDevice());
  }

  @Override
  public void close() {
    manager.close();
  }

  /**
   * The pass over rows (slots[i], positions[i]); the slots' blocks must already cover their
   * positions ({@link KvPool#ensure}).
   */
  static Step of(
      NDManager parent, KvPool kv, int[] slots, int[] positions, Qwen3RotaryEmbedding rope) {
    NDManager m = parent.newSubManager();
    try {
      int n = slots.length;
      int bt = kv.blockTokens;
      Device device = rope.cos.getDevice();
      long[] p = new long[n];
      long[] blocks = new long[n];
      long[] offsets = new long[n];
      for (int i = 0; i < n; i++) {
        p[i] = positions[i];
        blocks[i] = kv.block(slots[i], positions[i] / bt);
        offsets[i] = positions[i] % bt;
      }
      NDIndex rows = new NDIndex("{}", onDevice(m, p, device));
      NDArray cos = attach(m, rope.cos.get(rows)).expandDims(1);
      NDArray sin = attach(m, rope.sinSigned.get(rows)).expandDims(1);
      List<Run> runs = new ArrayList<>();
      for (int from = 0; from < n; ) {
        int to = from + 1;
        while (to < n && slots[to] == slots[from]) to++;
        int count = to - from;
        int keys = positions[to - 1] + 1;
        int nb = (keys + bt - 1) / bt;
        int first = kv.consecutiveFrom(slots[from], nb);
        NDArray ids = null;
        if (first < 0) {
          long[] v = new long[nb];
          for (int b = 0; b < nb; b++) v[b] = kv.block(slots[from], b);
          ids = onDevice(m, v, device);
        }
        NDArray mask =
            count > 1 ? causalMask(m, keys - count, count, rope.cos.getDataType()) : null;
        runs.add(new Run(from, count, keys, nb, first, ids, mask));
        from = to;
      }
      return new Step(
          m,
          cos,
          sin,
          onDevice(m, blocks, device),
          onDevice(m, offsets, device),
          List.copyOf(runs));
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
  }

  private static NDArray onDevice(NDManager m, long[] v, Device device) {
    NDArray a = m.create(v);
    return a.getDevice().equals(device) ? a : a.toDevice(device, false);
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
    return m.create(v, new Shape(count, keys)).toType(dtype, false);
  }
}
