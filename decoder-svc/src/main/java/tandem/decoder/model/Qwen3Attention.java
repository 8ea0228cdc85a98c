package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * Qwen3 self-attention: q/k/v projections, per-head RMSNorm of q and k (q_norm, k_norm), RoPE,
 * grouped-query attention against the KV cache, o_proj. No biases.
 *
 * <p>Weight layout: q_proj|k_proj|v_proj are one {@code [hidden, (heads + 2·kvHeads)·headDim]}
 * matrix (one matmul per layer). q and k are normalized together: they share the RMS statistic's
 * axis (headDim), so one normalize over {@code [T, heads + kvHeads, headDim]} followed by one
 * multiply with the stacked weights (q_norm rows scaled by 1/sqrt(headDim), the attention scale)
 * does both. GQA needs no repeat_kv copy: query heads are grouped as {@code [kvHeads, group, ...]}
 * and each group multiplies its own cached K/V head.
 */
final class Qwen3Attention {
  final int heads;
  final int kvHeads;
  final int headDim;
  final int group;
  final float eps;
  final NDArray qkvProj; // [(heads + 2 kvHeads) headDim, hidden]: q_proj|k_proj|v_proj stacked
  final NDArray oProj; // [hidden, heads headDim]
  final NDArray
      qkNormWeight; // [heads + kvHeads, headDim]: q_norm/sqrt(headDim) per query head, k_norm per
  // kv head
  private final NDArray qkvProjT; // transposed views (no copy) for x·Wᵀ
  private final NDArray oProjT;
  private final NDIndex qkCols;
  private final NDIndex vCols;
  private final NDIndex qHeads;
  private final NDIndex kHeads;

  /** {@code inputScale}: the preceding norm's weight, folded into q|k|v's input rows. */
  Qwen3Attention(
      TorchWeights w,
      String prefix,
      int hidden,
      int heads,
      int kvHeads,
      int headDim,
      double eps,
      float[] inputScale) {
    this.heads = heads;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.group = heads / kvHeads;
    this.eps = (float) eps;
    long q = (long) heads * headDim;
    long kv = (long) kvHeads * headDim;
    this.qkvProj =
        w.linear(
            hidden,
            new String[] {
              prefix + "q_proj.weight", prefix + "k_proj.weight", prefix + "v_proj.weight"
            },
            new long[] {q, kv, kv},
            inputScale);
    this.oProj = w.linear(q, new String[] {prefix + "o_proj.weight"}, new long[] {hidden});
    this.qkvProjT = qkvProj.transpose();
    this.oProjT = oProj.transpose();
    try (NDArray qNorm = w.vector(prefix + "q_norm.weight", headDim);
        NDArray kNorm = w.vector(prefix + "k_norm.weight", headDim);
        NDArray qScaled = qNorm.mul((float) (1.0 / Math.sqrt(headDim)));
        NDArray qRows = qScaled.expandDims(0).repeat(0, heads);
        NDArray kRows = kNorm.expandDims(0).repeat(0, kvHeads)) {
      this.qkNormWeight = NDArrays.concat(new NDList(qRows, kRows), 0);
    }
    this.qkCols = new NDIndex().addAllDim().addSliceDim(0, q + kv);
    this.vCols = new NDIndex().addAllDim().addSliceDim(q + kv, q + 2 * kv);
    this.qHeads = new NDIndex().addAllDim().addSliceDim(0, heads);
    this.kHeads = new NDIndex().addAllDim().addSliceDim(heads, heads + kvHeads);
  }

  /**
   * x [T, hidden] (normalized; the norm weight is in q|k|v) → [T, hidden]; writes this pass's K/V
   * into the cache.
   */
  NDArray forward(NDArray x, Step step, KvCache cache, int layer, Qwen3RotaryEmbedding rope) {
    long t = x.getShape().get(0);
    NDArray qkv = x.matMul(qkvProjT); // [T, (heads + 2 kvHeads) headDim]
    NDArray qk = qkv.get(qkCols).reshape(t, heads + kvHeads, headDim);
    NDArray v = qkv.get(vCols).reshape(t, kvHeads, headDim);
    qk = Qwen3RMSNorm.normalize(qk, eps).mul(qkNormWeight);
    qk = rope.apply(qk, step.cos(), step.sin());
    NDArray q = qk.get(qHeads); // [T, heads, headDim]
    NDArray k = qk.get(kHeads); // [T, kvHeads, headDim]
    NDArray attn; // [T, heads headDim]
    if (step instanceof Step.Chunk c) {
      cache.writeRange(layer, c.slot(), c.start(), k, v);
      attn = prefillAttention(q, c.slot(), c.start(), c.count(), c.mask(), step, cache, layer);
    } else if (step instanceof Step.Stacked b) {
      int[] lens = b.lens();
      NDList outs = new NDList(lens.length);
      long off = 0;
      for (int i = 0; i < lens.length; i++) {
        NDIndex rows = new NDIndex().addSliceDim(off, off + lens[i]);
        cache.writeRange(layer, b.slots()[i], 0, k.get(rows), v.get(rows));
        outs.add(
            prefillAttention(
                q.get(rows), b.slots()[i], 0, lens[i], b.masks()[i], step, cache, layer));
        off += lens[i];
      }
      attn = outs.size() == 1 ? outs.get(0) : NDArrays.concat(outs, 0);
    } else if (step instanceof Step.Decode d) {
      cache.writeScattered(layer, d.slotIdx(), d.posIdx(), k, v);
      attn = decodeAttention(q, d, cache, layer);
    } else {
      throw new IllegalStateException("unknown step " + step); // unreachable: Step is sealed
    }
    return attn.matMul(oProjT);
  }

  /**
   * Rows q [t, heads, headDim] are positions start..start+t-1 of one slot; attends over the cache
   * [0, start + t) with the causal mask (null when t == 1).
   */
  private NDArray prefillAttention(
      NDArray q, int slot, int start, int t, NDArray mask, Step step, KvCache cache, int layer) {
    int keys = start + t;
    NDIndex visible = new NDIndex().addIndices(slot).addAllDim().addSliceDim(0, keys);
    NDIndex visibleT = new NDIndex().addIndices(slot).addAllDim().addAllDim().addSliceDim(0, keys);
    NDArray kt = step.owned(cache.keys[layer].get(visibleT)); // [kvHeads, headDim, keys]
    NDArray vc = step.owned(cache.values[layer].get(visible)); // [kvHeads, keys, headDim]
    // [T, heads, d] → [kvHeads, group·T, d]: query head h uses kv head h / group
    NDArray qg =
        q.reshape(t, kvHeads, group, headDim)
            .transpose(1, 2, 0, 3)
            .reshape(kvHeads, (long) group * t, headDim);
    NDArray scores = qg.matMul(kt); // [kvHeads, group·T, keys]
    if (mask != null) {
      scores =
          scores
              .reshape(kvHeads, group, t, keys)
              .add(mask)
              .reshape(kvHeads, (long) group * t, keys);
    }
    NDArray out = softmax(scores).matMul(vc); // [kvHeads, group·T, d]
    return out.reshape(kvHeads, group, t, headDim)
        .transpose(2, 0, 1, 3)
        .reshape(t, (long) heads * headDim);
  }

  /** Softmax over keys, in float32 as HF computes it (a no-op cast on the float32 path). */
  private static NDArray softmax(NDArray scores) {
    if (scores.getDataType() == DataType.FLOAT32) return scores.softmax(-1);
    return scores.toType(DataType.FLOAT32, false).softmax(-1).toType(scores.getDataType(), false);
  }

  /**
   * Row i is the newest position of slot slots[i]. Each row attends over exactly its own slot's
   * filled prefix, so sequences of different lengths need no padding or mask, and no K/V is copied.
   */
  private NDArray decodeAttention(NDArray q, Step.Decode step, KvCache cache, int layer) {
    int n = step.count();
    NDList outs = new NDList(n);
    for (int i = 0; i < n; i++) {
      int slot = step.slots()[i];
      int len = step.positions()[i] + 1;
      NDIndex visible = new NDIndex().addIndices(slot).addAllDim().addSliceDim(0, len);
      NDIndex visibleT = new NDIndex().addIndices(slot).addAllDim().addAllDim().addSliceDim(0, len);
      NDArray kt = step.owned(cache.keys[layer].get(visibleT)); // [kvHeads, headDim, len]
      NDArray vc = step.owned(cache.values[layer].get(visible)); // [kvHeads, len, headDim]
      NDArray qi = (n == 1 ? q : q.get(i)).reshape(kvHeads, group, headDim);
      NDArray p = softmax(qi.matMul(kt)); // [kvHeads, group, len]
      outs.add(p.matMul(vc).reshape(1, (long) heads * headDim));
    }
    return outs.size() == 1 ? outs.get(0) : NDArrays.concat(outs, 0);
  }
}
