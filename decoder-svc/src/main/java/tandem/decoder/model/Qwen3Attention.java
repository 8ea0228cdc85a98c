package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.List;

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
    cache.write(layer, step.writeBlocks(), step.writeOffsets(), k, v);
    List<Step.Run> runs = step.runs();
    NDList outs = new NDList(runs.size());
    for (Step.Run run : runs) {
      NDArray qr =
          runs.size() == 1
              ? q
              : q.get(new NDIndex().addSliceDim(run.from(), run.from() + run.count()));
      outs.add(attention(qr, run, step, cache, layer));
    }
    NDArray attn = outs.size() == 1 ? outs.get(0) : NDArrays.concat(outs, 0); // [T, heads headDim]
    return attn.matMul(oProjT);
  }

  /**
   * One slot's rows q [t, heads, headDim] (its newest positions, whose K/V this pass has written)
   * attend over the slot's first {@code run.keys()} positions, causally among themselves. Each slot
   * attends over exactly its own length, so sequences of different lengths need no padding.
   */
  private NDArray attention(NDArray q, Step.Run run, Step step, KvCache cache, int layer) {
    int t = run.count();
    int keys = run.keys();
    NDArray kt = cache.keysT(layer, run, step); // [kvHeads, headDim, keys]
    NDArray vc = cache.values(layer, run, step); // [kvHeads, keys, headDim]
    // [T, heads, d] → [kvHeads, group·T, d]: query head h uses kv head h / group
    NDArray qg =
        q.reshape(t, kvHeads, group, headDim)
            .transpose(1, 2, 0, 3)
            .reshape(kvHeads, (long) group * t, headDim);
    NDArray scores = qg.matMul(kt); // [kvHeads, group·T, keys]
    if (run.mask() != null) {
      scores =
          scores
              .reshape(kvHeads, group, t, keys)
              .add(run.mask())
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
}
