package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The CPU decode kernel's arithmetic against float64 references, and its batch invariance. */
class VectorOpsTest {
  private static final IntraOpPool ONE = new IntraOpPool(1);
  private static final IntraOpPool THREE = new IntraOpPool(3);

  @AfterAll
  static void stop() {
    ONE.setThreads(1);
    THREE.setThreads(1); // ends its workers
  }

  private static ByteBuffer weights(float[] w) {
    ByteBuffer b = ByteBuffer.allocateDirect(w.length * 4).order(VectorOps.ORDER);
    b.asFloatBuffer().put(w);
    return b;
  }

  private static float[] random(SplittableRandom rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
    return v;
  }

  private static float[] matmul(float[] w, int out, int in, float[] x, int rows, IntraOpPool pool) {
    int padded = VectorOps.paddedRows(rows);
    float[] xp = Arrays.copyOf(x, padded * in);
    float[] y = new float[padded * out];
    VectorOps.matmul(weights(w), out, in, xp, rows, y, pool);
    return Arrays.copyOf(y, rows * out);
  }

  @Test
  void matmulMatchesAFloat64ReferenceForShapesWithAndWithoutTails() {
    SplittableRandom rnd = new SplittableRandom(7);
    int[][] shapes = {{4, 16}, {8, 64}, {7, 33}, {13, 5}, {1, 1}, {64, 1024}, {9, 100}};
    for (int[] s : shapes) {
      int out = s[0];
      int in = s[1];
      float[] w = random(rnd, out * in);
      for (int rows = 1; rows <= 9; rows++) {
        float[] x = random(rnd, rows * in);
        float[] got = matmul(w, out, in, x, rows, THREE);
        for (int r = 0; r < rows; r++) {
          for (int j = 0; j < out; j++) {
            double want = 0;
            for (int k = 0; k < in; k++) want += (double) w[j * in + k] * x[r * in + k];
            assertEquals(want, got[r * out + j], 1e-5 * Math.sqrt(in) + 1e-6, out + "x" + in + " rows " + rows);
          }
        }
      }
    }
  }

  @Test
  void aRowGetsBitIdenticalResultsAloneInABatchAndOnAnyNumberOfThreads() {
    SplittableRandom rnd = new SplittableRandom(11);
    int out = 37;
    int in = 70;
    float[] w = random(rnd, out * in);
    float[] x = random(rnd, 8 * in);
    float[] batched = matmul(w, out, in, x, 8, THREE);
    for (int r = 0; r < 8; r++) {
      float[] alone = matmul(w, out, in, Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, ONE);
      assertArrayEquals(alone, Arrays.copyOfRange(batched, r * out, (r + 1) * out), "row " + r);
    }
    assertArrayEquals(batched, matmul(w, out, in, x, 8, ONE));
  }

  @Test
  void matmulRefusesBuffersWithoutThePaddedRows() {
    ByteBuffer w = weights(new float[4 * 16]);
    assertThrows(
        IllegalArgumentException.class,
        () -> VectorOps.matmul(w, 4, 16, new float[2 * 16], 2, new float[4 * 4], ONE));
  }

  @Test
  void softmaxSumsToOneAndMatchesTheDefinition() {
    SplittableRandom rnd = new SplittableRandom(3);
    for (int n : new int[] {1, 5, 16, 37, 300}) {
      float[] v = random(rnd, n);
      for (int i = 0; i < n; i++) v[i] *= 30; // large logits: the max must be subtracted
      double max = Double.NEGATIVE_INFINITY;
      for (float f : v) max = Math.max(max, f);
      double sum = 0;
      for (float f : v) sum += Math.exp(f - max);
      // at an offset, as attention uses it (one head's scores after another's); the neighbours stay untouched
      int off = 3;
      float[] got = new float[off + n + 2];
      java.util.Arrays.fill(got, 7f);
      System.arraycopy(v, 0, got, off, n);
      VectorOps.softmax(got, off, n);
      double total = 0;
      for (int i = 0; i < n; i++) {
        assertEquals(Math.exp(v[i] - max) / sum, got[off + i], 1e-6, "n=" + n + " i=" + i);
        total += got[off + i];
      }
      assertEquals(1.0, total, 1e-5);
      assertEquals(7f, got[off - 1]);
      assertEquals(7f, got[off + n]);
    }
  }

  @Test
  void siluMulAndRmsScaleMatchTheirDefinitions() {
    SplittableRandom rnd = new SplittableRandom(5);
    int rows = 3;
    int inter = 21;
    float[] gu = random(rnd, rows * 2 * inter);
    float[] act = new float[rows * inter];
    VectorOps.siluMul(gu, act, rows, inter);
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < inter; i++) {
        double g = gu[r * 2 * inter + i];
        double want = g / (1 + Math.exp(-g)) * gu[r * 2 * inter + inter + i];
        assertEquals(want, act[r * inter + i], 1e-6);
      }
    }
    float[] x = random(rnd, 40);
    double ms = 0;
    for (int i = 3; i < 3 + 35; i++) ms += (double) x[i] * x[i];
    assertEquals(1 / Math.sqrt(ms / 35 + 1e-6), VectorOps.rmsScale(x, 3, 35, 1e-6f), 1e-5);
  }

  @Test
  void attentionScoresAndWeightedValuesMatchTheirDefinitionsForOneAndTwoHeads() {
    SplittableRandom rnd = new SplittableRandom(9);
    for (int headDim : new int[] {16, 20, 128}) {
      for (int len : new int[] {1, 15, 16, 37}) {
        for (int heads = 1; heads <= 2; heads++) {
          int stride = len + 3; // K rows are maxSeqLen long; only [0, len) is read
          int kBase = 5;
          float[] kt = random(rnd, kBase + headDim * stride);
          float[] q = random(rnd, 7 + heads * headDim);
          float[] s = new float[2 * len];
          VectorOps.scores(q, 7, heads, headDim, weights(kt), kBase, stride, len, s);
          for (int h = 0; h < heads; h++) {
            for (int t = 0; t < len; t++) {
              double want = 0;
              for (int d = 0; d < headDim; d++) want += (double) q[7 + h * headDim + d] * kt[kBase + d * stride + t];
              assertEquals(want, s[h * len + t], 1e-5, "scores hd=" + headDim + " len=" + len + " h=" + h);
            }
          }
          int vBase = 3;
          float[] v = random(rnd, vBase + len * headDim);
          float[] out = new float[2 + heads * headDim];
          VectorOps.weighted(s, heads, len, weights(v), vBase, headDim, out, 2);
          for (int h = 0; h < heads; h++) {
            for (int d = 0; d < headDim; d++) {
              double want = 0;
              for (int t = 0; t < len; t++) want += (double) s[h * len + t] * v[vBase + t * headDim + d];
              assertEquals(want, out[2 + h * headDim + d], 1e-4, "weighted hd=" + headDim + " len=" + len);
            }
          }
        }
      }
    }
  }
}
