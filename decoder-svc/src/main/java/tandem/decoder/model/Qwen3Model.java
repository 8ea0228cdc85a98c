package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import java.nio.ByteBuffer;
import tandem.common.checkpoint.Qwen3Config;

/**
 * HF Qwen3Model: embed_tokens, the decoder layers, the final norm; RoPE tables shared by all
 * layers. Embedding lookups run on the host from the float32 embed_tokens as stored ([vocab,
 * hidden]); when the lm_head is tied to it, that one copy also serves as the lm_head.
 */
final class Qwen3Model {
  final Qwen3Config config;
  private final ByteBuffer embedHost; // embed_tokens values, [vocab, hidden]
  final Qwen3DecoderLayer[] layers;
  final Qwen3RMSNorm norm;
  final Qwen3RotaryEmbedding rotaryEmb;

  /** {@code prefix} is "model." (Qwen3ForCausalLM) or "model.text_model." (Idefics3/SmolVLM). */
  Qwen3Model(TorchWeights w, String prefix, Qwen3Config c, int maxSeqLen, ByteBuffer embedHost) {
    this.config = c;
    this.embedHost = embedHost;
    this.layers = new Qwen3DecoderLayer[c.numHiddenLayers()];
    for (int i = 0; i < layers.length; i++) {
      layers[i] = new Qwen3DecoderLayer(w, prefix + "layers." + i + ".", i, c);
    }
    this.norm = Qwen3RMSNorm.load(w, prefix + "norm.", c.hiddenSize(), c.rmsNormEps());
    this.rotaryEmb = new Qwen3RotaryEmbedding(w, c.headDim(), c.ropeTheta(), maxSeqLen);
  }

  /** Rows of embed_tokens, [ids.length, hidden] row-major; ids must be in range. */
  float[] embed(int[] ids) {
    int h = config.hiddenSize();
    float[] out = new float[ids.length * h];
    java.nio.FloatBuffer table = embedHost.asFloatBuffer();
    for (int i = 0; i < ids.length; i++) table.get(ids[i] * h, out, i * h, h);
    return out;
  }

  /**
   * Runs every layer over the pass's rows; returns the hidden states [T, hidden] before the final
   * norm, which the caller applies only to the rows it needs logits for.
   */
  NDArray forward(NDArray h, Step step, KvCache cache) {
    for (Qwen3DecoderLayer layer : layers) {
      h = layer.forward(h, step, cache, rotaryEmb);
    }
    return h;
  }
}
