package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Java kernel's row-wise arithmetic against float64 definitions. */
class KernelsTest {
  private static final int L = PackedMatrix.L;

  private static float[] random(SplittableRandom rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
    return v;
  }

  @Test
  void scaledSoftmaxSumsToOneMatchesTheDefinitionAndLeavesNeighboursAlone() {
    SplittableRandom rnd = new SplittableRandom(3);
    float scale = 0.125f;
    for (int n : new int[] {1, 5, 16, 37, 300}) {
      float[] v = random(rnd, n);
      for (int i = 0; i < n; i++) v[i] *= 240; // large scores: the max must be subtracted
      double max = Double.NEGATIVE_INFINITY;
      for (float f : v) max = Math.max(max, (double) f * scale);
      double sum = 0;
      for (float f : v) sum += Math.exp(f * scale - max);
      int off = 3;
      float[] got = new float[off + n + 2];
      Arrays.fill(got, 7f);
      System.arraycopy(v, 0, got, off, n);
      Kernels.scaledSoftmax(got, off, n, scale);
      double total = 0;
      for (int i = 0; i < n; i++) {
        assertEquals(Math.exp(v[i] * scale - max) / sum, got[off + i], 1e-6, "n=" + n + " i=" + i);
        total += got[off + i];
      }
      assertEquals(1.0, total, 1e-5);
      assertEquals(7f, got[off - 1]);
      assertEquals(7f, got[off + n]);
    }
  }

  @Test
  void siluMulRmsScaleAndRmsNormMatchTheirDefinitions() {
    SplittableRandom rnd = new SplittableRandom(5);
    int rows = 3;
    int inter = 21;
    float[] gu = random(rnd, rows * 2 * inter);
    float[] act = new float[rows * inter];
    for (int r = 0; r < rows; r++) Kernels.siluMul(gu, act, r, inter);
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < inter; i++) {
        double g = gu[r * 2 * inter + i];
        assertEquals(
            g / (1 + Math.exp(-g)) * gu[r * 2 * inter + inter + i], act[r * inter + i], 1e-6);
      }
    }
    float[] x = random(rnd, 40);
    double ms = 0;
    for (int i = 3; i < 3 + 35; i++) ms += (double) x[i] * x[i];
    assertEquals(1 / Math.sqrt(ms / 35 + 1e-6), Kernels.rmsScale(x, 3, 35, 1e-6f), 1e-5);

    int h = 24;
    float[] hs = random(rnd, 2 * h);
    float[] w = random(rnd, h);
    float[] out = new float[2 * h];
    Kernels.rmsNorm(hs, out, 2, h, w, 1e-6f);
    for (int r = 0; r < 2; r++) {
      double m = 0;
      for (int i = 0; i < h; i++) m += (double) hs[r * h + i] * hs[r * h + i];
      double s = 1 / Math.sqrt(m / h + 1e-6);
      for (int i = 0; i < h; i++) assertEquals(w[i] * hs[r * h + i] * s, out[r * h + i], 1e-5);
    }
  }

  /** One K block is [d, 2L] (Kᵀ), one V block [2L, d]: KvPool's float32 layout. */
  @Test
  void blockScoresAndWeightedValuesMatchTheirDefinitionsForOneAndTwoHeads() {
    SplittableRandom rnd = new SplittableRandom(9);
    int bt = 2 * L;
    for (int d : new int[] {L, 2 * L, 128}) {
      for (int heads = 1; heads <= 2; heads++) {
        int kBase = 3 * bt; // the block of another kv head sits before it
        float[] k = random(rnd, kBase + d * bt);
        float[] q = random(rnd, 7 + heads * d);
        int stride = 3 * bt;
        float[] s = new float[2 * stride];
        int sOff = bt; // this is the sequence's second block
        Kernels.scores(q, 7, heads, d, k, kBase, s, sOff, stride);
        for (int hd = 0; hd < heads; hd++) {
          for (int t = 0; t < bt; t++) {
            double want = 0;
            for (int i = 0; i < d; i++) want += (double) q[7 + hd * d + i] * k[kBase + i * bt + t];
            assertEquals(
                want, s[hd * stride + sOff + t], 1e-5, "scores d=" + d + " t=" + t + " h=" + hd);
          }
        }
        int count = bt - 3; // a last block only partly filled
        int vBase = bt * d;
        float[] v = random(rnd, vBase + bt * d);
        float[] out = new float[2 + heads * d];
        Arrays.fill(out, 0.5f); // the output accumulates over blocks
        Kernels.weighted(s, sOff, stride, heads, count, v, vBase, d, out, 2);
        for (int hd = 0; hd < heads; hd++) {
          for (int i = 0; i < d; i++) {
            double want = 0.5;
            for (int t = 0; t < count; t++)
              want += (double) s[hd * stride + sOff + t] * v[vBase + t * d + i];
            assertEquals(want, out[2 + hd * d + i], 1e-4, "weighted d=" + d + " h=" + hd);
          }
        }
      }
    }
  }

  /**
   * KvPool's bf16 layout holds positions t and t + L in one int (low and high half). On values that
   * bf16 holds exactly, the bf16 scores equal the float32 ones bit for bit (same products, same
   * order), and the weighted sum matches its definition, for one and two heads and a partly filled
   * block; an unwritten high half (garbage) past the count is never read.
   */
  @Test
  void bf16BlocksGiveTheFloat32KernelsResults() {
    SplittableRandom rnd = new SplittableRandom(11);
    int bt = 2 * L;
    for (int d : new int[] {L, 128}) {
      for (int heads = 1; heads <= 2; heads++) {
        float[] kf = new float[d * bt];
        int[] ki = new int[d * L + 5];
        int kBase = 5;
        for (int i = 0; i < d; i++) {
          for (int t = 0; t < bt; t++) {
            short b = tandem.common.checkpoint.Bf16.fromFloat((float) rnd.nextGaussian());
            kf[i * bt + t] = tandem.common.checkpoint.Bf16.toFloat(b);
            int at = kBase + i * L + (t % L);
            ki[at] = t < L ? (ki[at] & 0xFFFF0000) | (b & 0xFFFF) : (ki[at] & 0xFFFF) | (b << 16);
          }
        }
        float[] q = random(rnd, heads * d);
        int stride = 2 * bt;
        float[] sf = new float[2 * stride];
        float[] si = new float[2 * stride];
        Kernels.scores(q, 0, heads, d, kf, 0, sf, bt, stride);
        Kernels.scoresBf16(q, 0, heads, d, ki, kBase, si, bt, stride);
        assertArrayEquals(sf, si, "scores d=" + d + " heads=" + heads);

        int count = L + 3; // both halves used for some rows, only the low half for the others
        float[] vf = new float[bt * d];
        int[] vi = new int[L * d];
        for (int t = 0; t < bt; t++) {
          for (int i = 0; i < d; i++) {
            short b =
                t < count
                    ? tandem.common.checkpoint.Bf16.fromFloat((float) rnd.nextGaussian())
                    : (short) 0x7FC1;
            vf[t * d + i] =
                tandem.common.checkpoint.Bf16.toFloat(b); // NaN past the count: must not be read
            int at = (t % L) * d + i;
            vi[at] = t < L ? (vi[at] & 0xFFFF0000) | (b & 0xFFFF) : (vi[at] & 0xFFFF) | (b << 16);
          }
        }
        float[] out = new float[heads * d];
        Kernels.weightedBf16(si, bt, stride, heads, count, vi, 0, d, out, 0);
        for (int hd = 0; hd < heads; hd++) {
          for (int i = 0; i < d; i++) {
            double want = 0;
            for (int t = 0; t < count; t++)
              want += (double) si[hd * stride + bt + t] * vf[t * d + i];
            assertEquals(want, out[hd * d + i], 1e-4, "weighted d=" + d + " h=" + hd + " i=" + i);
          }
        }
      }
    }
  }

  /**
   * Four K blocks side by side give each block's scores exactly as one block at a time does, and
   * read the same head's part of the four V blocks on the way.
   */
  @Test
  void fourBf16BlocksSideBySideGiveTheBitsOfOneAtATime() {
    SplittableRandom rnd = new SplittableRandom(23);
    int bt = 2 * L;
    int d = 128;
    int kBase = 3 * d * L; // a later head's part of each block
    int[][] k = new int[4][kBase + d * L];
    for (int[] block : k)
      for (int i = 0; i < block.length; i++)
        block[i] =
            (tandem.common.checkpoint.Bf16.fromFloat((float) rnd.nextGaussian()) & 0xFFFF)
                | (tandem.common.checkpoint.Bf16.fromFloat((float) rnd.nextGaussian()) << 16);
    float[] q = random(rnd, 2 * d + 7);
    int stride = 6 * bt;
    float[] one = new float[2 * stride];
    float[] four = new float[2 * stride];
    for (int b = 0; b < 4; b++)
      Kernels.scoresBf16(q, 7, 2, d, k[b], kBase, one, (b + 1) * bt, stride);
    int[][] v = new int[4][kBase + L * d];
    int touched = 0;
    for (int b = 0; b < 4; b++) {
      for (int i = 0; i < v[b].length; i++) v[b][i] = rnd.nextInt(1000);
      for (int i = 0; i < d; i++) touched += v[b][kBase + i * L];
    }
    assertEquals(
        touched,
        Kernels.scoresBf16Blocks4(
            q, 7, d, k[0], k[1], k[2], k[3], kBase, v[0], v[1], v[2], v[3], kBase, four, bt,
            stride),
        "the sum of the V ints it reads on the way (one per 64 bytes with 512-bit vectors)");
    assertArrayEquals(one, four);
    assertTrue(
        four[bt] != 0 && four[stride + 5 * bt - 1] != 0, "every block of both heads written");
  }

  /**
   * The weighted sum is one chain of fused multiply-adds per output, over the block's rows in the
   * order t, t + L (t = 0, 1, …) for bf16 and t = 0, 1, … for float32, whichever loop computes it:
   * checked bit for bit against that chain written with Math.fma, for widths where two heads take
   * four-chunk passes only (128), four- and one-chunk passes (6L) and one-chunk passes only (L),
   * full and partly filled blocks.
   */
  @Test
  void weightedSumsAreOneFmaChainPerOutputInRowOrder() {
    SplittableRandom rnd = new SplittableRandom(17);
    int bt = 2 * L;
    for (int d : new int[] {L, 6 * L, 128}) {
      for (int heads = 1; heads <= 2; heads++) {
        for (int count : new int[] {bt, L + 3, 5}) {
          int vBase = 3 * L * d; // another kv head's block sits before it
          int[] v = new int[vBase + L * d];
          for (int i = vBase; i < v.length; i++) v[i] = rnd.nextInt() & 0xBF7FBF7F; // finite
          int stride = 3 * bt;
          int pOff = bt;
          float[] p = random(rnd, 2 * stride);
          float[] out = random(rnd, 4 + heads * d); // accumulates onto what is there
          float[] want = out.clone();
          Kernels.weightedBf16(p, pOff, stride, heads, count, v, vBase, d, out, 4);
          for (int hd = 0; hd < heads; hd++) {
            for (int i = 0; i < d; i++) {
              float acc = want[4 + hd * d + i];
              for (int t = 0; t < Math.min(count, L); t++) {
                int w = v[vBase + t * d + i];
                acc = Math.fma(Float.intBitsToFloat(w << 16), p[hd * stride + pOff + t], acc);
                if (t + L < count)
                  acc =
                      Math.fma(
                          Float.intBitsToFloat(w & 0xFFFF0000), p[hd * stride + pOff + t + L], acc);
              }
              assertEquals(
                  Float.floatToIntBits(acc),
                  Float.floatToIntBits(out[4 + hd * d + i]),
                  "d=" + d + " heads=" + heads + " count=" + count + " h=" + hd + " i=" + i);
            }
          }
          // float32 V: one chain per output over rows 0, 1, … in order
          float[] vf = random(rnd, vBase + bt * d);
          float[] outF = random(rnd, 4 + heads * d);
          float[] wantF = outF.clone();
          Kernels.weighted(p, pOff, stride, heads, count, vf, vBase, d, outF, 4);
          for (int hd = 0; hd < heads; hd++) {
            for (int i = 0; i < d; i++) {
              float acc = wantF[4 + hd * d + i];
              for (int t = 0; t < count; t++)
                acc = Math.fma(vf[vBase + t * d + i], p[hd * stride + pOff + t], acc);
              assertEquals(
                  Float.floatToIntBits(acc),
                  Float.floatToIntBits(outF[4 + hd * d + i]),
                  "f32 d=" + d + " heads=" + heads + " count=" + count + " h=" + hd + " i=" + i);
            }
          }
        }
      }
    }
  }

  @Test
  void expIsWithinTwoUlpOfMathExpAndItsScalarTwinGivesTheSameBits() {
    SplittableRandom rnd = new SplittableRandom(13);
    float[] x = new float[4096];
    for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() * 174 - 87);
    x[0] = 0f;
    x[1] = -87.3f;
    x[2] = 88.0f;
    x[3] = 1e-8f;
    float[] got = new float[x.length];
    for (int i = 0; i < x.length; i += L) {
      Kernels.exp(jdk.incubator.vector.FloatVector.fromArray(Kernels.F, x, i)).intoArray(got, i);
    }
    for (int i = 0; i < x.length; i++) {
      double want = Math.exp(x[i]);
      assertEquals(want, got[i], 2.5e-7 * want, "exp(" + x[i] + ")");
      assertEquals(
          Float.floatToIntBits(Kernels.exp(x[i])),
          Float.floatToIntBits(got[i]),
          "scalar twin at " + x[i]);
    }
    assertEquals(1f, Kernels.exp(0f));
    assertEquals(Kernels.exp(-87.3f), Kernels.exp(-1000f), "clamped: never 0");
  }

  @Test
  void laneSumsFollowAFixedTree() {
    float[] v = new float[L];
    for (int i = 0; i < L; i++) v[i] = 1f / (i + 3);
    float tree = Kernels.sum(jdk.incubator.vector.FloatVector.fromArray(Kernels.F, v, 0));
    float[] t = v.clone();
    for (int w = L / 2; w >= 1; w /= 2) {
      float[] n = new float[L];
      for (int i = 0; i < L; i++) n[i] = t[i] + t[(i + w) % L];
      t = n;
    }
    assertEquals(Float.floatToIntBits(t[0]), Float.floatToIntBits(tree));
  }

  @Test
  void matmulRefusesBuffersWithoutThePaddedRows() {
    PackedMatrix m = PackedMatrix.allocate(WeightFormat.F32, 4, PackedMatrix.COL_ALIGN);
    IntraOpPool one = new IntraOpPool(1);
    assertThrows(
        IllegalArgumentException.class,
        () -> m.matmul(new float[2 * m.cols], 2, new float[4 * 4], one));
  }
}
