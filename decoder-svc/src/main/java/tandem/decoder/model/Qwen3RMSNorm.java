package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * {@code w ⊙ x / sqrt(mean(x²) + eps)} over the last axis (HF Qwen3RMSNorm; statistics in float32).
 * A norm whose weight was folded into the projection that reads its output has {@code weight ==
 * null} and only normalizes.
 */
final class Qwen3RMSNorm {
  private static final int[] LAST = {-1};
  final NDArray weight; // null when folded into the next matmul
  final float eps;

  Qwen3RMSNorm(NDArray weight, float eps) {
    this.weight = weight;
    this.eps = eps;
  }

  static Qwen3RMSNorm load(TorchWeights w, String prefix, long dim, double eps) {
    return new Qwen3RMSNorm(w.vector(prefix + "weight", dim), (float) eps);
  }

  /** A norm whose weight the caller has folded into the following projection's rows. */
  static Qwen3RMSNorm folded(double eps) {
    return new Qwen3RMSNorm(null, (float) eps);
  }

  NDArray forward(NDArray x) {
    NDArray n = normalize(x, eps);
    return weight == null ? n : n.mul(weight);
  }

  /**
   * The unscaled part, {@code x / sqrt(mean(x²) + eps)}; callers that fold the weight elsewhere use
   * it directly.
   */
  static NDArray normalize(NDArray x, float eps) {
    if (x.getDataType() != DataType.FLOAT32) {
      // float16 (cuda only): x² overflows past |x| = 256, so the statistic is taken in float32 as
      // HF does
      return normalize(x.toType(DataType.FLOAT32, false), eps).toType(x.getDataType(), false);
    }
    NDArray inv = x.square().mean(LAST, true).add(eps).pow(-0.5f);
    return x.mul(inv);
  }
}
