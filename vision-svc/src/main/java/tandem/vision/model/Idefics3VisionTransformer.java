package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;

/** {@code model.vision_model}: embeddings → encoder layers → post_layernorm. */
final class Idefics3VisionTransformer {
  private final VisionDims dims;
  private final Idefics3VisionEmbeddings embeddings;
  private final List<Idefics3EncoderLayer> layers;
  private final NDArray postLayernormWeight;
  private final NDArray postLayernormBias;

  private Idefics3VisionTransformer(
      VisionDims dims,
      Idefics3VisionEmbeddings e,
      List<Idefics3EncoderLayer> layers,
      NDArray postW,
      NDArray postB) {
    this.dims = dims;
    this.embeddings = e;
    this.layers = layers;
    this.postLayernormWeight = postW;
    this.postLayernormBias = postB;
  }

  static Idefics3VisionTransformer load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    List<Idefics3EncoderLayer> layers = new ArrayList<>();
    for (int i = 0; i < d.numHiddenLayers(); i++)
      layers.add(Idefics3EncoderLayer.load(m, w, prefix + "encoder.layers." + i + ".", d));
    return new Idefics3VisionTransformer(
        d,
        Idefics3VisionEmbeddings.load(m, w, prefix + "embeddings.", d),
        List.copyOf(layers),
        w.load(m, prefix + "post_layernorm.weight", d.hiddenSize()),
        w.load(m, prefix + "post_layernorm.bias", d.hiddenSize()));
  }

  /**
   * pixels [B, 3, S, S] → last_hidden_state [B, N, D], owned by {@code out}. Each step runs in its
   * own child manager (ops attach results to their first operand's manager), so the temporaries of
   * a layer — attention scores are B·H·N² floats — are freed before the next layer starts.
   */
  NDArray forward(NDArray pixels, NDManager out) {
    NDArray h;
    try (NDManager step = out.newSubManager()) {
      pixels.tempAttach(step);
      h = embeddings.forward(pixels);
      h.attach(out);
    }
    for (Idefics3EncoderLayer layer : layers) {
      try (NDManager step = out.newSubManager()) {
        h.attach(step);
        h = layer.forward(h);
        h.attach(out);
      }
    }
    try (NDManager step = out.newSubManager()) {
      h.attach(step);
      h = Idefics3EncoderLayer.layerNorm(h, postLayernormWeight, postLayernormBias, dims);
      h.attach(out);
    }
    return h;
  }
}
