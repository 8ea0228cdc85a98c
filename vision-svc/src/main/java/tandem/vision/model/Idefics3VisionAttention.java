package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.core.Linear;

/**
 * Bidirectional multi-head self-attention with biases, no mask, no RoPE. q, k and v are fused into
 * one [3D, D] projection at load time so each layer does one big matmul instead of three.
 */
final class Idefics3VisionAttention {
  private final VisionDims dims;
  private final NDArray qkvWeight; // [3D, D] = q_proj | k_proj | v_proj
  private final NDArray qkvBias; // [3D]
  private final NDArray outProjWeight; // [D, D]
  private final NDArray outProjBias; // [D]

  private Idefics3VisionAttention(
      VisionDims dims, NDArray qkvW, NDArray qkvB, NDArray outW, NDArray outB) {
    this.dims = dims;
    this.qkvWeight = qkvW;
    this.qkvBias = qkvB;
    this.outProjWeight = outW;
    this.outProjBias = outB;
  }

  static Idefics3VisionAttention load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    int h = d.hiddenSize();
    try (NDManager tmp = m.newSubManager()) {
      NDList ws = new NDList();
      NDList bs = new NDList();
      for (String p : new String[] {"q_proj", "k_proj", "v_proj"}) {
        ws.add(w.load(tmp, prefix + p + ".weight", h, h));
        bs.add(w.load(tmp, prefix + p + ".bias", h));
      }
      NDArray qkvW = NDArrays.concat(ws, 0);
      NDArray qkvB = NDArrays.concat(bs, 0);
      qkvW.attach(m);
      qkvB.attach(m);
      return new Idefics3VisionAttention(
          d,
          qkvW,
          qkvB,
          w.load(m, prefix + "out_proj.weight", h, h),
          w.load(m, prefix + "out_proj.bias", h));
    }
  }

  /** x [B, N, D] → [B, N, D]. */
  NDArray forward(NDArray x) {
    long b = x.getShape().get(0);
    long n = x.getShape().get(1);
    int heads = dims.numAttentionHeads();
    int hd = dims.headDim();
    // [B, N, 3D] → [3, B, H, N, hd]
    NDArray qkv =
        Linear.linear(x, qkvWeight, qkvBias)
            .singletonOrThrow()
            .reshape(b, n, 3, heads, hd)
            .transpose(2, 0, 3, 1, 4);
    NDArray q = qkv.get(0).mul((float) (1.0 / Math.sqrt(hd)));
    NDArray k = qkv.get(1);
    NDArray v = qkv.get(2);
    NDArray probs = q.matMul(k.transpose(0, 1, 3, 2)).softmax(-1); // [B, H, N, N]
    NDArray ctx =
        probs.matMul(v).transpose(0, 2, 1, 3).reshape(b, n, dims.hiddenSize()); // [B, N, D]
    return Linear.linear(ctx, outProjWeight, outProjBias).singletonOrThrow();
  }
}
