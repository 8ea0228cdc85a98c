package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import tandem.common.checkpoint.Bf16;
import tandem.common.tensor.HalfFloats;

/**
 * The packed weight formats and their matrix products, against float64 references; batch and thread
 * invariance.
 */
class PackedMatrixTest {
  private static final IntraOpPool ONE = new IntraOpPool(1);
  private static final IntraOpPool THREE = new IntraOpPool(3);
  private static final int A = PackedMatrix.COL_ALIGN;

  @AfterAll
  static void stop() {
    ONE.setThreads(1);
    THREE.setThreads(1); // ends its workers
  }

  private static float[] random(SplittableRandom rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
    return v;
  }

  private static PackedMatrix pack(WeightFormat f, float[] w, int out, int in) {
    PackedMatrix m = PackedMatrix.allocate(f, out, in);
    for (int r = 0; r < out; r++) m.setRow(r, Arrays.copyOfRange(w, r * in, (r + 1) * in));
    return m;
  }

  private static float[] matmul(PackedMatrix m, float[] x, int rows, IntraOpPool pool) {
    return matmul(m, x, rows, pool, PackedMatrix.GROUP);
  }

  private static float[] matmul(PackedMatrix m, float[] x, int rows, IntraOpPool pool, int group) {
    int padded = Kernels.paddedRows(rows);
    float[] xp = Arrays.copyOf(x, padded * m.cols);
    float[] y = new float[padded * m.rows];
    m.matmul(xp, rows, y, pool, group);
    return Arrays.copyOf(y, rows * m.rows);
  }

  /** The matrix's own values widened (what the product must use), times x, in float64. */
  private static double[] reference(PackedMatrix m, float[] x, int rows) {
    double[] y = new double[rows * m.rows];
    float[] row = new float[m.cols];
    for (int j = 0; j < m.rows; j++) {
      m.row(j, row, 0);
      for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int k = 0; k < m.cols; k++) s += (double) row[k] * x[r * m.cols + k];
        y[r * m.rows + j] = s;
      }
    }
    return y;
  }

  @Test
  void everyFormatMultipliesItsOwnValuesLikeAFloat64Reference() {
    SplittableRandom rnd = new SplittableRandom(7);
    int[][] shapes = {{4, A}, {8, 2 * A}, {12, 3 * A}, {64, 1024 / A * A}};
    for (WeightFormat f : WeightFormat.values()) {
      for (int[] s : shapes) {
        int out = s[0];
        int in = s[1];
        PackedMatrix m = pack(f, random(rnd, out * in), out, in);
        for (int rows : new int[] {1, 2, 3, 4, 5, 9, 70, 140}) { // 140: two row blocks
          float[] x = random(rnd, rows * in);
          float[] got = matmul(m, x, rows, THREE);
          double[] want = reference(m, x, rows);
          for (int i = 0; i < got.length; i++) {
            assertEquals(
                want[i],
                got[i],
                1e-5 * Math.sqrt(in) + 1e-6,
                f + " " + out + "x" + in + " rows " + rows);
          }
        }
      }
    }
  }

  @Test
  void bf16KeepsTheValuesExactlyAndRoundsFloat32ToNearestEven() {
    SplittableRandom rnd = new SplittableRandom(3);
    float[] w = random(rnd, 4 * A);
    PackedMatrix m = pack(WeightFormat.BF16, w, 4, A);
    float[] row = new float[A];
    for (int r = 0; r < 4; r++) {
      m.row(r, row, 0);
      for (int k = 0; k < A; k++) assertEquals(Bf16.toFloat(Bf16.fromFloat(w[r * A + k])), row[k]);
    }
    // one panel of P rows: the 4 used ones and the zero padding of the rest
    assertEquals(2L * PackedMatrix.P * A, m.bytes());
  }

  @Test
  void q8_0BlocksFollowLlamaCpp() {
    float[] w = new float[4 * A];
    SplittableRandom rnd = new SplittableRandom(5);
    for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextDouble() * 0.2 - 0.1);
    w[3] = 0.5f; // the first block's max: d = 0.5/127 rounded to float16, and w[3] = 127·d
    Arrays.fill(w, A, A + 32, 0f); // an all-zero block stays zero
    PackedMatrix.Q8 m = (PackedMatrix.Q8) pack(WeightFormat.Q8_0, w, 4, A);
    float d = HalfFloats.roundToF16(0.5f / 127f);
    assertEquals(d, m.scale(0, 0));
    assertEquals(127, m.quant(0, 3));
    float[] row = new float[A];
    m.row(0, row, 0);
    for (int k = 0; k < 32; k++) {
      assertTrue(Math.abs(row[k] - w[k]) <= d / 2 + 1e-7, "k " + k + ": error within half a step");
      assertEquals(Math.round(w[k] / (0.5f / 127f)), m.quant(0, k));
    }
    m.row(1, row, 0);
    for (int k = 0; k < 32; k++) assertEquals(0f, row[k]);
    assertEquals(PackedMatrix.P * (A + 4L * A / 32), m.bytes()); // one panel, padding included
  }

  @Test
  void halfRoundingMatchesIeeeBinary16() {
    assertEquals(1f, HalfFloats.roundToF16(1f));
    assertEquals(65504f, HalfFloats.roundToF16(65504f));
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.roundToF16(65520f));
    assertEquals(0x1p-24f, HalfFloats.roundToF16(0x1p-24f)); // smallest subnormal
    assertEquals(0f, HalfFloats.roundToF16(0x1p-26f)); // below half the smallest subnormal
    assertEquals(1f, HalfFloats.roundToF16(1f + 0x1p-11f)); // a tie goes to even
    assertEquals(
        1f + 0x1p-9f,
        HalfFloats.roundToF16(1f + 0x1p-10f + 0x1p-11f)); // the other tie, to even too
    assertEquals(-0.0009765625f, HalfFloats.roundToF16(-0.0009765625f));
  }

  @Test
  void aRowGetsBitIdenticalResultsAloneInABatchAndOnAnyNumberOfThreads() {
    SplittableRandom rnd = new SplittableRandom(11);
    int out = 36;
    int in = 2 * A;
    for (WeightFormat f : WeightFormat.values()) {
      PackedMatrix m = pack(f, random(rnd, out * in), out, in);
      float[] x = random(rnd, 140 * in);
      // 140 rows: a block of 128 and one of 12 (groups of eight, then eight and four); 12: eight
      // and four; 3: four; with groups of four (what AVX2 hosts use) as well as the host's choice
      for (int n : new int[] {140, 12, 3}) {
        float[] batched = matmul(m, Arrays.copyOf(x, n * in), n, THREE);
        assertArrayEquals(batched, matmul(m, Arrays.copyOf(x, n * in), n, ONE, 4), f + " in fours");
        assertArrayEquals(
            batched, matmul(m, Arrays.copyOf(x, n * in), n, ONE, 8), f + " in eights");
        for (int r = 0; r < n; r += n > 12 ? 7 : 1) {
          float[] alone = matmul(m, Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, ONE);
          assertArrayEquals(
              alone,
              Arrays.copyOfRange(batched, r * out, (r + 1) * out),
              f + " row " + r + " of " + n);
        }
      }
      assertArrayEquals(matmul(m, x, 140, THREE), matmul(m, x, 140, ONE), f.toString());
    }
  }

  @Test
  void oneRowStreamedFourPanelsAtATimeGetsTheBitsOfOnePanelAtATime() {
    SplittableRandom rnd = new SplittableRandom(17);
    int p = PackedMatrix.P;
    int in = 3 * A;
    for (WeightFormat f : WeightFormat.values()) {
      // on one thread a matrix is four bands: of four panels each (16 panels), and of six with a
      // partly used last panel (23 panels and 4 rows): four at once, then one by one
      for (int out : new int[] {16 * p, 23 * p + 4}) {
        PackedMatrix m = pack(f, random(rnd, out * in), out, in);
        float[] x = random(rnd, Kernels.paddedRows(1) * in);
        float[] each = new float[m.panels * p];
        for (int q = 0; q < m.panels; q++) m.one(q, x, each, q * p);
        float[] four = new float[4 * p];
        m.onePanels4(4, x, four, 0);
        assertArrayEquals(Arrays.copyOfRange(each, 4 * p, 8 * p), four, f + " panels 4-7");
        float[] streamed = matmul(m, Arrays.copyOf(x, in), 1, ONE);
        assertArrayEquals(Arrays.copyOf(each, out), streamed, f + " " + out + " outputs");
        float[] rows = random(rnd, 12 * in);
        System.arraycopy(x, 0, rows, 5 * in, in);
        assertArrayEquals(
            streamed,
            Arrays.copyOfRange(matmul(m, rows, 12, THREE), 5 * out, 6 * out),
            f + ": the same row in a batch of 12");
      }
    }
  }

  @Test
  void severalRowsGoThroughPanelsInPairsWithTheBitsOfEachRowAlone() {
    SplittableRandom rnd = new SplittableRandom(19);
    int p = PackedMatrix.P;
    int in = 3 * A;
    for (WeightFormat f : WeightFormat.values()) {
      assertEquals(f != WeightFormat.Q8_0, PackedMatrix.allocate(f, 4, A).pairs(), f.toString());
      // on one thread a matrix is four bands: of four panels (16: pairs only), of six where the
      // last band has three (21: a pair, then one alone), of six with a partly used last panel
      // (23 panels and 4 rows: pairs, then the last two alone)
      for (int out : new int[] {16 * p, 21 * p, 23 * p + 4}) {
        PackedMatrix m = pack(f, random(rnd, out * in), out, in);
        float[] x = random(rnd, 132 * in);
        if (m.pairs()) {
          float[] xt = new float[4 * in]; // rows 0-3 interleaved as the kernels read them
          for (int i = 0; i < 4; i++) for (int k = 0; k < in; k++) xt[4 * k + i] = x[i * in + k];
          float[] pair = new float[4 * 2 * p];
          m.fourPanels2(6, xt, 0, pair, 0, 2 * p);
          float[] one = new float[4 * p];
          for (int q = 0; q < 2; q++) {
            m.four(6 + q, xt, 0, one, 0, p);
            for (int i = 0; i < 4; i++) {
              assertArrayEquals(
                  Arrays.copyOfRange(one, i * p, (i + 1) * p),
                  Arrays.copyOfRange(pair, i * 2 * p + q * p, i * 2 * p + (q + 1) * p),
                  f + " panel " + (6 + q) + " row " + i);
            }
          }
        }
        // 4: one group, streamed; 8, 12, 16: then groups of eight and four from cache; 132: two
        // row blocks
        for (int n : new int[] {4, 8, 12, 16, 132}) {
          float[] xs = Arrays.copyOf(x, n * in);
          float[] pairs = matmul(m, xs, n, ONE, 8);
          assertArrayEquals(pairs, matmul(m, xs, n, THREE, 8), f + " " + n + " rows, 3 threads");
          assertArrayEquals(pairs, matmul(m, xs, n, ONE, 4), f + " " + n + " rows in fours");
          for (int r = 0; r < n; r += n > 16 ? 9 : 1) {
            assertArrayEquals(
                matmul(m, Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, ONE),
                Arrays.copyOfRange(pairs, r * out, (r + 1) * out),
                f + " " + out + " outputs, row " + r + " of " + n);
          }
        }
      }
    }
  }

  @Test
  void theBenchsInCacheMultiplyRunsEveryShapeAndChecksItsInput() {
    SplittableRandom rnd = new SplittableRandom(13);
    int in = 2 * A;
    // 36: a full panel and a partly used one on every host; 24 panels: bands of two on three
    // threads, so bf16 and f32 also run their pairs in cache
    for (int out : new int[] {36, 24 * PackedMatrix.P}) {
      for (WeightFormat f : WeightFormat.values()) {
        checkInCacheMultiply(rnd, pack(f, random(rnd, out * in), out, in), f);
      }
    }
  }

  /** Runs the bench's in-cache multiply on m for several row counts: it reads, writes nothing. */
  private static void checkInCacheMultiply(SplittableRandom rnd, PackedMatrix m, WeightFormat f) {
    int in = m.cols;
    float[] before = matmul(m, random(new SplittableRandom(1), 12 * in), 12, ONE);
    for (int n : new int[] {1, 3, 8, 12, 140}) {
      m.multiplyInCache(random(rnd, Kernels.paddedRows(n) * in), n, THREE);
    }
    assertArrayEquals(
        before,
        matmul(m, random(new SplittableRandom(1), 12 * in), 12, ONE),
        f + ": the weights are only read");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> m.multiplyInCache(new float[in], 8, ONE));
    assertTrue(e.getMessage().contains("8 padded rows"), e.getMessage());
  }

  @Test
  void shapesTheKernelsCannotTileAreRefused() {
    assertThrows(
        IllegalArgumentException.class, () -> PackedMatrix.allocate(WeightFormat.F32, 6, A));
    assertThrows(
        IllegalArgumentException.class, () -> PackedMatrix.allocate(WeightFormat.BF16, 4, A + 2));
    assertTrue(PackedMatrix.fits(151936, 1024));
  }
}
