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

  Qwen3DecoderLayer(Weights w, String prefix, int index, Qwen3Config c) {
    this.index = index;
    this.inputLayernorm = Qwen3RMSNorm.load(w, prefix + "input_layernorm.", c.hiddenSize(), c.rmsNormEps());
    this.selfAttn =
        new Qwen3Attention(
            w,
            prefix + "self_attn.",
            c.hiddenSize(),
            c.numAttentionHeads(),
            c.numKeyValueHeads(),
            c.headDim(),
            c.rmsNormEps());
    this.postAttentionLayernorm =
        Qwen3RMSNorm.load(w, prefix + "post_attention_layernorm.", c.hiddenSize(), c.rmsNormEps());
    this.mlp = new Qwen3MLP(w, prefix + "mlp.", c.hiddenSize(), c.intermediateSize());
  }

  /** h [T, hidden] → [T, hidden]. */
  NDArray forward(NDArray h, Step step, KvCache cache, Qwen3RotaryEmbedding rope) {
    NDArray attn = selfAttn.forward(inputLayernorm.forward(h), step, cache, index, rope);
    h = h.add(attn);
    return h.add(mlp.forward(postAttentionLayernorm.forward(h)));
  }
}
