package tandem.decoder.model;

import ai.djl.ndarray.NDArray;

/** {@code w ⊙ x / sqrt(mean(x²) + eps)} over the last axis (HF Qwen3RMSNorm; statistics in float32). */
final class Qwen3RMSNorm {
  private static final int[] LAST = {-1};
  final NDArray weight;
  final float eps;

  Qwen3RMSNorm(NDArray weight, float eps) {
    this.weight = weight;
    this.eps = eps;
  }

  static Qwen3RMSNorm load(Weights w, String prefix, long dim, double eps) {
    return new Qwen3RMSNorm(w.vector(prefix + "weight", dim), (float) eps);
  }

  NDArray forward(NDArray x) {
    return normalize(x, eps).mul(weight);
  }

  /** The unscaled part, {@code x / sqrt(mean(x²) + eps)}; callers that fold the weight elsewhere use it directly. */
  static NDArray normalize(NDArray x, float eps) {
    NDArray inv = x.square().mean(LAST, true).add(eps).pow(-0.5f);
    return x.mul(inv);
  }
}
