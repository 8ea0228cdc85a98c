package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;

/** Pre-LN transformer block: h += attn(LN1(h)); h += mlp(LN2(h)). */
final class Idefics3EncoderLayer {
  private final VisionDims dims;
  private final NDArray layerNorm1Weight;
  private final NDArray layerNorm1Bias;
  private final Idefics3VisionAttention selfAttn;
  private final NDArray layerNorm2Weight;
  private final NDArray layerNorm2Bias;
  private final Idefics3VisionMLP mlp;

  private Idefics3EncoderLayer(
      VisionDims dims,
      NDArray ln1W,
      NDArray ln1B,
      Idefics3VisionAttention attn,
      NDArray ln2W,
      NDArray ln2B,
      Idefics3VisionMLP mlp) {
    this.dims = dims;
    this.layerNorm1Weight = ln1W;
    this.layerNorm1Bias = ln1B;
    this.selfAttn = attn;
    this.layerNorm2Weight = ln2W;
    this.layerNorm2Bias = ln2B;
    this.mlp = mlp;
  }

  static Idefics3EncoderLayer load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    int h = d.hiddenSize();
    return new Idefics3EncoderLayer(
        d,
        w.load(m, prefix + "layer_norm1.weight", h),
        w.load(m, prefix + "layer_norm1.bias", h),
        Idefics3VisionAttention.load(m, w, prefix + "self_attn.", d),
        w.load(m, prefix + "layer_norm2.weight", h),
        w.load(m, prefix + "layer_norm2.bias", h),
        Idefics3VisionMLP.load(m, w, prefix + "mlp.", d));
  }

  /** x [B, N, D] → [B, N, D]. */
  NDArray forward(NDArray x) {
    NDArray h = x.add(selfAttn.forward(layerNorm(x, layerNorm1Weight, layerNorm1Bias, dims)));
    return h.addi(mlp.forward(layerNorm(h, layerNorm2Weight, layerNorm2Bias, dims)));
  }

  static NDArray layerNorm(NDArray x, NDArray weight, NDArray bias, VisionDims d) {
    return LayerNorm.layerNorm(x, new Shape(d.hiddenSize()), weight, bias, (float) d.layerNormEps())
        .singletonOrThrow();
  }
}
