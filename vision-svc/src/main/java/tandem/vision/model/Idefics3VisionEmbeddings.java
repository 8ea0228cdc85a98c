package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;

/**
 * Patch embedding (Conv2d, kernel = stride = patch size) plus learned position embeddings. Tiles
 * are always full 512x512 images here, so every patch is valid and the NaViT bucketing reduces to
 * position id = patch index (HF's {@code Idefics3VisionEmbeddings.forward} with an all-true patch
 * mask); partially padded tiles are not supported.
 */
final class Idefics3VisionEmbeddings {
  private final VisionDims dims;
  private final NDArray patchEmbeddingWeight; // [D, 3, P, P]
  private final NDArray patchEmbeddingBias; // [D]
  private final NDArray positionEmbedding; // [N, D]

  private Idefics3VisionEmbeddings(VisionDims dims, NDArray w, NDArray b, NDArray pos) {
    this.dims = dims;
    this.patchEmbeddingWeight = w;
    this.patchEmbeddingBias = b;
    this.positionEmbedding = pos;
  }

  static Idefics3VisionEmbeddings load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    int p = d.patchSize();
    return new Idefics3VisionEmbeddings(
        d,
        w.load(m, prefix + "patch_embedding.weight", d.hiddenSize(), 3, p, p),
        w.load(m, prefix + "patch_embedding.bias", d.hiddenSize()),
        w.load(m, prefix + "position_embedding.weight", d.numPatches(), d.hiddenSize()));
  }

  /** pixels [B, 3, S, S] → [B, N, D], patches row-major. */
  NDArray forward(NDArray pixels) {
    long b = pixels.getShape().get(0);
    Shape stride = new Shape(dims.patchSize(), dims.patchSize());
    NDArray conv =
        Conv2d.conv2d(pixels, patchEmbeddingWeight, patchEmbeddingBias, stride).singletonOrThrow();
    // [B, D, side, side] → [B, N, D]
    NDArray patches = conv.reshape(b, dims.hiddenSize(), dims.numPatches()).transpose(0, 2, 1);
    return patches.add(positionEmbedding);
  }
}
