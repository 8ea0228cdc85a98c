package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Activation;

/**
 * {@code down_proj(silu(gate_proj(x)) ⊙ up_proj(x))}; gate|up are one stacked matrix, one matmul.
 */
final class Qwen3MLP {
  final NDArray gateUpProj; // [2 intermediate, hidden]: gate_proj|up_proj stacked
  final NDArray downProj; // [hidden, intermediate]
  private final NDArray gateUpProjT; // transposed views (no copy) for x·Wᵀ
  private final NDArray downProjT;
  private final NDIndex gateCols;
  private final NDIndex upCols;

  /** {@code inputScale}: the preceding norm's weight, folded into gate|up's input rows. */
  Qwen3MLP(TorchWeights w, String prefix, int hidden, int intermediate, float[] inputScale) {
    this.gateUpProj =
        w.linear(
            hidden,
            new String[] {prefix + "gate_proj.weight", prefix + "up_proj.weight"},
            new long[] {intermediate, intermediate},
            inputScale);
    this.downProj =
        w.linear(intermediate, new String[] {prefix + "down_proj.weight"}, new long[] {hidden});
    this.gateUpProjT = gateUpProj.transpose();
    this.downProjT = downProj.transpose();
    this.gateCols = new NDIndex().addAllDim().addSliceDim(0, intermediate);
    this.upCols = new NDIndex().addAllDim().addSliceDim(intermediate, 2L * intermediate);
  }

  /** x [T, hidden] (normalized; the norm weight is in gate|up) → [T, hidden]. */
  NDArray forward(NDArray x) {
    NDArray gu = x.matMul(gateUpProjT); // [T, 2 intermediate]
    NDArray gate = gu.get(gateCols);
    NDArray act = gate.mul(Activation.sigmoid(gate)).mul(gu.get(upCols)); // silu(gate) ⊙ up
    return act.matMul(downProjT);
  }
}
