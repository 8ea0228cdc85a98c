package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import tandem.common.checkpoint.Qwen3Config;

/** Pre-norm block: {@code h += attn(norm(h)); h += mlp(norm(h))}. */
final class Qwen3DecoderLayer {
  final int index;
  final Qwen3RMSNorm inputLayernorm;
  final Qwen3Attention selfAttn;
  final Qwen3RMSNorm postAttentionLayernorm;
  final Qwen3MLP mlp;

  Qwen3DecoderLayer(TorchWeights w, String prefix, int index, Qwen3Config c) {
    this.index = index;
    // Both norms' weights are folded into the fused projection that reads them (q|k|v and gate|up).
    this.inputLayernorm = Qwen3RMSNorm.folded(c.rmsNormEps());
    float[] inputNormWeight = w.floats(prefix + "input_layernorm.weight", c.hiddenSize());
    float[] postNormWeight = w.floats(prefix + "post_attention_layernorm.weight", c.hiddenSize());
    this.selfAttn =
        new Qwen3Attention(
            w,
            prefix + "self_attn.",
            c.hiddenSize(),
            c.numAttentionHeads(),
            c.numKeyValueHeads(),
            c.headDim(),
            c.rmsNormEps(),
            inputNormWeight);
    this.postAttentionLayernorm = Qwen3RMSNorm.folded(c.rmsNormEps());
    this.mlp =
        new Qwen3MLP(w, prefix + "mlp.", c.hiddenSize(), c.intermediateSize(), postNormWeight);
  }

  /** h [T, hidden] → [T, hidden]. */
  NDArray forward(NDArray h, Step step, KvCache cache, Qwen3RotaryEmbedding rope) {
    NDArray attn = selfAttn.forward(inputLayernorm.forward(h), step, cache, index, rope);
    h = h.add(attn);
    return h.add(mlp.forward(postAttentionLayernorm.forward(h)));
  }
}
