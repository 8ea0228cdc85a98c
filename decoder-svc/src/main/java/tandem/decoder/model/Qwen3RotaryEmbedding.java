package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Default ("rotate_half") RoPE tables, built in float32 exactly as HF builds them: {@code
 * inv_freq[i] = 1 / θ^(2i/d)} in float32, angle {@code p · inv_freq[i]} rounded to float32, then
 * cos and sin. {@code sin} is stored with the sign of rotate_half folded in ({@code [-sin, sin]}),
 * so rotating is {@code x·cos + swapHalves(x)·sinSigned}.
 */
final class Qwen3RotaryEmbedding {
  final NDArray cos; // [maxSeqLen, headDim]
  final NDArray sinSigned; // [maxSeqLen, headDim]
  final int headDim;
  private final NDIndex firstHalf;
  private final NDIndex secondHalf;

  Qwen3RotaryEmbedding(TorchWeights w, int headDim, double theta, int maxSeqLen) {
    this.headDim = headDim;
    int half = headDim / 2;
    float[][] t = tables(headDim, theta, maxSeqLen);
    Shape shape = new Shape(maxSeqLen, headDim);
    this.cos = w.place(direct(t[0]), shape);
    this.sinSigned = w.place(direct(t[1]), shape);
    this.firstHalf = new NDIndex().addEllipseDim().addSliceDim(0, half);
    this.secondHalf = new NDIndex().addEllipseDim().addSliceDim(half, headDim);
  }

  /** {cos, sinSigned}, each [maxSeqLen, headDim] row-major, as the class comment describes. */
  static float[][] tables(int headDim, double theta, int maxSeqLen) {
    int half = headDim / 2;
    float[] invFreq = invFreq(headDim, theta);
    float[] c = new float[maxSeqLen * headDim];
    float[] s = new float[maxSeqLen * headDim];
    for (int p = 0; p < maxSeqLen; p++) {
      for (int i = 0; i < half; i++) {
        float angle = (float) p * invFreq[i];
        float cv = (float) Math.cos(angle);
        float sv = (float) Math.sin(angle);
        c[p * headDim + i] = cv;
        c[p * headDim + half + i] = cv;
        s[p * headDim + i] = -sv;
        s[p * headDim + half + i] = sv;
      }
    }
    return new float[][] {c, s};
  }

  static float[] invFreq(int headDim, double theta) {
    float[] inv = new float[headDim / 2];
    for (int i = 0; i < inv.length; i++) {
      float exponent = (float) (2 * i) / (float) headDim;
      inv[i] = 1.0f / (float) Math.pow(theta, exponent);
    }
    return inv;
  }

  /** Rotates x [T, heads, headDim] with the per-row tables cos/sin [T, 1, headDim]. */
  NDArray apply(NDArray x, NDArray cosRows, NDArray sinRows) {
    NDArray swapped = NDArrays.concat(new NDList(x.get(secondHalf), x.get(firstHalf)), -1);
    return x.mul(cosRows).add(swapped.mul(sinRows));
  }

  private static java.nio.ByteBuffer direct(float[] v) {
    java.nio.ByteBuffer b = TorchWeights.allocate(v.length);
    b.asFloatBuffer().put(v);
    return b;
  }
}
