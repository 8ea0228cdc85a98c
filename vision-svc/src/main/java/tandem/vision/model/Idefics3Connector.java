package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.core.Linear;

/**
 * {@code model.connector}: pixel shuffle by {@code scale_factor}, then {@code
 * modality_projection.proj} (no bias).
 */
final class Idefics3Connector {
  private final VisionDims dims;
  private final NDArray modalityProjectionProjWeight; // [textHidden, D·f²]

  private Idefics3Connector(VisionDims dims, NDArray projW) {
    this.dims = dims;
    this.modalityProjectionProjWeight = projW;
  }

  static Idefics3Connector load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    return new Idefics3Connector(
        d,
        w.load(
            m, prefix + "modality_projection.proj.weight", d.textHiddenSize(), d.shuffledSize()));
  }

  /** V [B, N, D] → [B, tokens, textHidden]. */
  NDArray forward(NDArray v) {
    return Linear.linear(pixelShuffle(v), modalityProjectionProjWeight).singletonOrThrow();
  }

  /**
   * HF's {@code Idefics3Connector.pixel_shuffle} view/permute sequence collapsed into one
   * reshape-transpose-reshape: S[b, 8R+C, dh·(f·D) + dw·D + c] = V[b, (fR+dh)·side + fC+dw, c].
   * Patch index p = R·(f·side) + dh·side + C·f + dw, so V viewed as [B, side/f, f, side/f, f, D] =
   * (R, dh, C, dw, c) and moved to (R, C, dh, dw, c).
   */
  NDArray pixelShuffle(NDArray v) {
    long b = v.getShape().get(0);
    int f = dims.scaleFactor();
    int g = dims.patchesPerSide() / f;
    return v.reshape(b, g, f, g, f, dims.hiddenSize())
        .transpose(0, 1, 3, 2, 4, 5)
        .reshape(b, (long) g * g, dims.shuffledSize());
  }
}
