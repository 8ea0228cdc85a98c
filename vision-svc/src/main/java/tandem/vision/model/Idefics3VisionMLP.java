package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.core.Linear;

/** fc1 → gelu_pytorch_tanh → fc2, with biases. */
final class Idefics3VisionMLP {
  private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);

  private final boolean tanhApproximation;
  private final NDArray fc1Weight; // [I, D]
  private final NDArray fc1Bias;
  private final NDArray fc2Weight; // [D, I]
  private final NDArray fc2Bias;

  private Idefics3VisionMLP(
      boolean tanhApproximation, NDArray fc1W, NDArray fc1B, NDArray fc2W, NDArray fc2B) {
    this.tanhApproximation = tanhApproximation;
    this.fc1Weight = fc1W;
    this.fc1Bias = fc1B;
    this.fc2Weight = fc2W;
    this.fc2Bias = fc2B;
  }

  static Idefics3VisionMLP load(NDManager m, WeightSource w, String prefix, VisionDims d) {
    int h = d.hiddenSize();
    int i = d.intermediateSize();
    return new Idefics3VisionMLP(
        d.hiddenAct().equals("gelu_pytorch_tanh"),
        w.load(m, prefix + "fc1.weight", i, h),
        w.load(m, prefix + "fc1.bias", i),
        w.load(m, prefix + "fc2.weight", h, i),
        w.load(m, prefix + "fc2.bias", h));
  }

  NDArray forward(NDArray x) {
    NDArray h = Linear.linear(x, fc1Weight, fc1Bias).singletonOrThrow();
    NDArray a =
        tanhApproximation
            ? geluTanh(h)
            : ai.djl.nn.Activation.gelu(h); // DJL's gelu is the erf form
    return Linear.linear(a, fc2Weight, fc2Bias).singletonOrThrow();
  }

  /**
   * gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). DJL's gelu is the erf form, so
   * it is spelled out; in-place steps keep the [B·N, I] temporaries to two.
   */
  static NDArray geluTanh(NDArray x) {
    NDArray t = x.mul(x).muli(0.044715f).addi(1f).muli(x).muli(SQRT_2_OVER_PI).tanh();
    return t.addi(1f).muli(x).muli(0.5f);
  }
}
