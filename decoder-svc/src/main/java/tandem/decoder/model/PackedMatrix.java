package tandem.decoder.model;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import tandem.common.tensor.HalfFloats;

/**
 * A weight matrix {@code [rows, cols]} in the HF Linear layout (row j = the weights of output j)
 * held in one Java array, in one of the {@link WeightFormat}s, and the matrix product the CPU
 * decoder needs: {@code y[r, j] = Σ_k W[j, k]·x[r, k]}. Kernels load with {@code fromArray} only:
 * the one Vector API load form common to JDK 17 through 25.
 *
 * <p>Every output is a plain dot product whose lanes are accumulated over k in the same order
 * whatever the number of input rows and threads, so batching never changes a row's result (bit for
 * bit). Weight rows are processed four at a time: with one input row each weight row is one stream;
 * with several, every widened weight vector feeds four input rows (4×4 tiles), which is what lets
 * prefill reuse the same arrays as a GEMM. f32 and q8_0 widen the four rows to a float32 scratch
 * once per block of input rows; bf16 widens each packed int in registers.
 *
 * <p>{@code cols} must be a multiple of {@link #COL_ALIGN} and {@code rows} of 4 (every Qwen3 size
 * is): no tails.
 */
abstract sealed class PackedMatrix permits PackedMatrix.F32, PackedMatrix.Bf16, PackedMatrix.Q8 {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

  /** As many byte lanes as F has float lanes (128-bit bytes for 512-bit floats). */
  static final VectorSpecies<Byte> B =
      VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));

  static final int L = F.length();

  /** Columns are a multiple of this: 2·L for the bf16 pairs, and the 32 of a Q8_0 block. */
  static final int COL_ALIGN = Math.max(64, 2 * L);

  /** Per worker thread: a weight tile widened to float32 ({@link #block4}). */
  private static final ThreadLocal<float[]> WIDE = ThreadLocal.withInitial(() -> new float[0]);

  /**
   * Per thread: a tile's accumulators spilled for their lane sums ({@link #lanes}), and one slot
   * more for the bf16 tiles' prefetch sum.
   */
  private static final ThreadLocal<float[]> RED = ThreadLocal.withInitial(() -> new float[17 * L]);

  /**
   * Input rows processed against each weight tile while it sits in L1; bounds the x block kept hot
   * in L2.
   */
  private static final int ROW_BLOCK = 64;

  final int rows;
  final int cols;

  PackedMatrix(int rows, int cols) {
    if (cols % COL_ALIGN != 0 || rows % 4 != 0) {
      throw new IllegalArgumentException(
          "packed matrix ["
              + rows
              + ", "
              + cols
              + "] needs rows % 4 == 0 and cols % "
              + COL_ALIGN
              + " == 0");
    }
    this.rows = rows;
    this.cols = cols;
  }

  /** Whether a [rows, cols] matrix fits the kernels (and one Java array). */
  static boolean fits(long rows, long cols, WeightFormat f) {
    return rows % 4 == 0 && cols % COL_ALIGN == 0 && rows * cols <= Integer.MAX_VALUE - 64;
  }

  abstract WeightFormat format();

  /** Bytes this matrix holds (what one full multiply reads). */
  abstract long bytes();

  /** Writes row r, widened to float32, into dst[off, off + cols). */
  abstract void row(int r, float[] dst, int off);

  /** Stores row r from float32 values (rounding as the format does). */
  abstract void setRow(int r, float[] src);

  /**
   * A fresh matrix of the given format (contents zero). Rows are then filled with {@link #setRow}
   * by the loader.
   */
  static PackedMatrix allocate(WeightFormat f, int rows, int cols) {
    return switch (f) {
      case F32 -> new F32(rows, cols);
      case BF16 -> new Bf16(rows, cols);
      case Q8_0 -> new Q8(rows, cols);
    };
  }

  /**
   * {@code y[r·out + j] = Σ_k W[j, k]·x[r·cols + k]} for r < n, j < rows. x and y are allocated for
   * {@link Kernels#paddedRows}(n) rows (their padding rows hold garbage after the call). Runs on
   * {@code pool}.
   */
  final void matmul(float[] x, int n, float[] y, IntraOpPool pool) {
    int padded = Kernels.paddedRows(n);
    if (x.length < (long) padded * cols || y.length < (long) padded * rows) {
      throw new IllegalArgumentException("matmul buffers must hold " + padded + " padded rows");
    }
    float[] xs = prepare(x, padded);
    int tiles = rows / 4;
    int perTask = Math.max(1, (tiles + pool.threads() * 4 - 1) / (pool.threads() * 4));
    int tasks = (tiles + perTask - 1) / perTask;
    for (int r0 = 0; r0 < n; r0 += ROW_BLOCK) {
      int rBlock = r0;
      int rEnd = Math.min(n, r0 + ROW_BLOCK);
      pool.parallelFor(
          tasks,
          t -> {
            float[] red = RED.get();
            int j1 = Math.min(tiles, (t + 1) * perTask) * 4;
            for (int j = t * perTask * 4; j < j1; j += 4) {
              if (n == 1) {
                tile4x1(xs, 0, y, 0, j, red);
              } else {
                block4(xs, rBlock, rEnd, y, j, red);
              }
            }
          });
    }
  }

  /**
   * The input as the tiles read it (bf16 splits each row into its even and odd columns); x itself
   * by default.
   */
  float[] prepare(float[] x, int paddedRows) {
    return x;
  }

  abstract void tile4x1(float[] x, int xOff, float[] y, int yOff, int j, float[] red);

  /**
   * Weight rows j..j+3 against input rows r0..r1-1 (a block of up to {@link #ROW_BLOCK}, in fours):
   * the four weight rows are widened to float32 once ({@link #widen4}), then the float32 4×4 tile
   * runs for every four input rows. The widened values and their order are exactly what {@link
   * #tile4x1} multiplies, so a row gets the same bits in a block as alone.
   */
  void block4(float[] x, int r0, int r1, float[] y, int j, float[] red) {
    float[] wide = WIDE.get();
    if (wide.length < 4 * cols) {
      wide = new float[4 * cols];
      WIDE.set(wide);
    }
    widen4(j, wide);
    for (int r = r0; r < r1; r += 4) f32Tile(wide, cols, x, r * cols, y, r * rows, rows, j, red);
  }

  /**
   * Rows j..j+3 as float32 into wide (4 rows of cols), in the column order {@link #tile4x1} sums
   * them.
   */
  abstract void widen4(int j, float[] wide);

  /**
   * The float32 4×4 tile: four widened weight rows ({@code w}, {@code in} apart) against input rows
   * xOff, xOff + in, …, into y's column j..j+3. One accumulator per (weight row, input row), over k
   * in order; lane sums in order.
   */
  static void f32Tile(
      float[] w, int in, float[] x, int xOff, float[] y, int yOff, int out, int j, float[] red) {
    int o = 0;
    FloatVector z = FloatVector.zero(F);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z;
    FloatVector a10 = z, a11 = z, a12 = z, a13 = z;
    FloatVector a20 = z, a21 = z, a22 = z, a23 = z;
    FloatVector a30 = z, a31 = z, a32 = z, a33 = z;
    for (int k = 0; k < in; k += L) {
      FloatVector x0 = FloatVector.fromArray(F, x, xOff + k);
      FloatVector x1 = FloatVector.fromArray(F, x, xOff + in + k);
      FloatVector x2 = FloatVector.fromArray(F, x, xOff + 2 * in + k);
      FloatVector x3 = FloatVector.fromArray(F, x, xOff + 3 * in + k);
      FloatVector w0 = FloatVector.fromArray(F, w, o + k);
      a00 = w0.fma(x0, a00);
      a01 = w0.fma(x1, a01);
      a02 = w0.fma(x2, a02);
      a03 = w0.fma(x3, a03);
      FloatVector w1 = FloatVector.fromArray(F, w, o + in + k);
      a10 = w1.fma(x0, a10);
      a11 = w1.fma(x1, a11);
      a12 = w1.fma(x2, a12);
      a13 = w1.fma(x3, a13);
      FloatVector w2 = FloatVector.fromArray(F, w, o + 2 * in + k);
      a20 = w2.fma(x0, a20);
      a21 = w2.fma(x1, a21);
      a22 = w2.fma(x2, a22);
      a23 = w2.fma(x3, a23);
      FloatVector w3 = FloatVector.fromArray(F, w, o + 3 * in + k);
      a30 = w3.fma(x0, a30);
      a31 = w3.fma(x1, a31);
      a32 = w3.fma(x2, a32);
      a33 = w3.fma(x3, a33);
    }
    a00.intoArray(red, 0 * L);
    a01.intoArray(red, 1 * L);
    a02.intoArray(red, 2 * L);
    a03.intoArray(red, 3 * L);
    a10.intoArray(red, 4 * L);
    a11.intoArray(red, 5 * L);
    a12.intoArray(red, 6 * L);
    a13.intoArray(red, 7 * L);
    a20.intoArray(red, 8 * L);
    a21.intoArray(red, 9 * L);
    a22.intoArray(red, 10 * L);
    a23.intoArray(red, 11 * L);
    a30.intoArray(red, 12 * L);
    a31.intoArray(red, 13 * L);
    a32.intoArray(red, 14 * L);
    a33.intoArray(red, 15 * L);
    store4x4(red, y, yOff, out, j);
  }

  /**
   * Sums every element once (a read of the whole array at memory speed: the decode floor's
   * yardstick).
   */
  abstract float touch(int band, int bands);

  // ---------------------------------------------------------------------------------------------------------------

  /** float32: one float a weight. */
  static final class F32 extends PackedMatrix {
    final float[] w;

    F32(int rows, int cols) {
      super(rows, cols);
      this.w = new float[rows * cols];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.F32;
    }

    @Override
    long bytes() {
      return 4L * w.length;
    }

    @Override
    void row(int r, float[] dst, int off) {
      System.arraycopy(w, r * cols, dst, off, cols);
    }

    @Override
    void setRow(int r, float[] src) {
      System.arraycopy(src, 0, w, r * cols, cols);
    }

    /** One input row: each weight row is one sequential stream (see {@link Bf16#tile4x1}). */
    @Override
    void tile4x1(float[] x, int xOff, float[] y, int yOff, int j, float[] red) {
      for (int r = j; r < j + 4; r++) y[yOff + r] = dot(w, r * cols, cols, x, xOff, red);
    }

    /** One row against one input row, one chain; a small method so that C2 compiles it in place. */
    private static float dot(float[] w, int o, int in, float[] x, int xOff, float[] red) {
      FloatVector a = FloatVector.zero(F);
      for (int k = 0; k < in; k += L) {
        a = FloatVector.fromArray(F, w, o + k).fma(FloatVector.fromArray(F, x, xOff + k), a);
      }
      a.intoArray(red, 0);
      return lanes(red, 0);
    }

    @Override
    void widen4(int j, float[] wide) {
      System.arraycopy(w, j * cols, wide, 0, 4 * cols);
    }

    @Override
    float touch(int band, int bands) {
      int per = (w.length / L + bands - 1) / bands * L;
      int from = Math.min(w.length, band * per);
      int to = Math.min(w.length, from + per);
      FloatVector acc = FloatVector.zero(F);
      for (int k = from; k < to; k += L) acc = acc.add(FloatVector.fromArray(F, w, k));
      return acc.reduceLanes(VectorOperators.ADD);
    }
  }

  /**
   * bfloat16, two to an int: int {@code p} of a row holds column 2p in its low half and 2p+1 in its
   * high half. A bf16 value is the top half of a float32, so widening is one shift ({@code << 16})
   * for the even column and one mask ({@code & 0xFFFF0000}) for the odd one, with no lane
   * conversion; the input is split once per multiply into its even and odd columns ({@link
   * #prepare}) to match.
   */
  static final class Bf16 extends PackedMatrix {
    final int[] w;
    private final int half;

    /**
     * The split input, one per calling thread (the scheduler's), shared by every bf16 matrix it
     * multiplies.
     */
    private static final ThreadLocal<float[]> SPLIT = ThreadLocal.withInitial(() -> new float[0]);

    Bf16(int rows, int cols) {
      super(rows, cols);
      this.half = cols / 2;
      this.w = new int[rows * half];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.BF16;
    }

    @Override
    long bytes() {
      return 4L * w.length;
    }

    @Override
    void row(int r, float[] dst, int off) {
      int base = r * half;
      for (int p = 0; p < half; p++) {
        int v = w[base + p];
        dst[off + 2 * p] = Float.intBitsToFloat(v << 16);
        dst[off + 2 * p + 1] = Float.intBitsToFloat(v & 0xFFFF0000);
      }
    }

    @Override
    void setRow(int r, float[] src) {
      int base = r * half;
      for (int p = 0; p < half; p++) {
        int lo = tandem.common.checkpoint.Bf16.fromFloat(src[2 * p]) & 0xFFFF;
        int hi = tandem.common.checkpoint.Bf16.fromFloat(src[2 * p + 1]) & 0xFFFF;
        w[base + p] = lo | (hi << 16);
      }
    }

    /**
     * Row r of x becomes [x[r,0], x[r,2], …, x[r,1], x[r,3], …]: the even columns, then the odd
     * ones.
     */
    @Override
    float[] prepare(float[] x, int paddedRows) {
      float[] s = SPLIT.get();
      int need = paddedRows * cols;
      if (s.length < need) {
        s = new float[need];
        SPLIT.set(s);
      }
      for (int r = 0; r < paddedRows; r++) {
        int o = r * cols;
        for (int p = 0; p < half; p++) {
          s[o + p] = x[o + 2 * p];
          s[o + half + p] = x[o + 2 * p + 1];
        }
      }
      return s;
    }

    /**
     * One input row: each weight row is one sequential stream, a row at a time. Interleaving the
     * four rows' streams (a 4x1 register tile) measured half the memory speed of a plain read here;
     * one stream per thread matches it.
     */
    @Override
    void tile4x1(float[] x, int xOff, float[] y, int yOff, int j, float[] red) {
      for (int r = j; r < j + 4; r++) y[yOff + r] = dot(w, r * half, half, x, xOff, red);
    }

    /**
     * One packed row (from int o, h ints) against a split input row: even columns, then odd ones
     * (from L1), one chain. A small method of its own so that C2 compiles every vector operation in
     * place; no vector crosses a call.
     */
    private static float dot(int[] w, int o, int h, float[] x, int xOff, float[] red) {
      FloatVector a = FloatVector.zero(F);
      for (int p = 0; p < h; p += L) {
        IntVector v = IntVector.fromArray(I, w, o + p);
        a =
            v.lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats()
                .fma(FloatVector.fromArray(F, x, xOff + p), a);
      }
      for (int p = 0; p < h; p += L) {
        IntVector v = IntVector.fromArray(I, w, o + p);
        a =
            v.and(0xFFFF0000)
                .reinterpretAsFloats()
                .fma(FloatVector.fromArray(F, x, xOff + h + p), a);
      }
      a.intoArray(red, 0);
      return lanes(red, 0);
    }

    /**
     * The multi-row tile straight from the packed ints: each int widens in registers (low half by a
     * shift for the even column, high half by a mask for the odd one) instead of being written out
     * as float32 first. Per (weight row, input row) the multiply-adds run in {@link #f32Tile}'s
     * order over the widened row (even columns, then odd ones), so every output has the same bits
     * as {@link #tile4x1} gives it alone.
     */
    @Override
    void block4(float[] x, int r0, int r1, float[] y, int j, float[] red) {
      // The next tile's rows are read into cache first, one load a line in a tight loop: as many
      // misses in flight as the core allows. A tile's own loop, with 16 multiply-adds waiting on
      // every four lines, keeps too few loads in flight to stream from memory at full speed, so
      // several input rows ran at compute time plus memory time. (One JVM, the two builds
      // alternating over full 8-row decode steps: 0.92x the step time.)
      int next = Math.min((j + 4) * half, w.length - 4 * half);
      red[16 * L] = fetch(w, next, next + 4 * half);
      for (int r = r0; r < r1; r += 4)
        tile4x4(w, j * half, half, x, r * cols, y, r * rows, rows, j, red);
    }

    private static void tile4x4(
        int[] w,
        int o,
        int h,
        float[] x,
        int xOff,
        float[] y,
        int yOff,
        int out,
        int j,
        float[] red) {
      int in = 2 * h;
      FloatVector z = FloatVector.zero(F);
      FloatVector a00 = z, a01 = z, a02 = z, a03 = z;
      FloatVector a10 = z, a11 = z, a12 = z, a13 = z;
      FloatVector a20 = z, a21 = z, a22 = z, a23 = z;
      FloatVector a30 = z, a31 = z, a32 = z, a33 = z;
      for (int k = 0; k < h; k += L) {
        FloatVector x0 = FloatVector.fromArray(F, x, xOff + k);
        FloatVector x1 = FloatVector.fromArray(F, x, xOff + in + k);
        FloatVector x2 = FloatVector.fromArray(F, x, xOff + 2 * in + k);
        FloatVector x3 = FloatVector.fromArray(F, x, xOff + 3 * in + k);
        FloatVector w0 =
            IntVector.fromArray(I, w, o + k)
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
        a00 = w0.fma(x0, a00);
        a01 = w0.fma(x1, a01);
        a02 = w0.fma(x2, a02);
        a03 = w0.fma(x3, a03);
        FloatVector w1 =
            IntVector.fromArray(I, w, o + h + k)
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
        a10 = w1.fma(x0, a10);
        a11 = w1.fma(x1, a11);
        a12 = w1.fma(x2, a12);
        a13 = w1.fma(x3, a13);
        FloatVector w2 =
            IntVector.fromArray(I, w, o + 2 * h + k)
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
        a20 = w2.fma(x0, a20);
        a21 = w2.fma(x1, a21);
        a22 = w2.fma(x2, a22);
        a23 = w2.fma(x3, a23);
        FloatVector w3 =
            IntVector.fromArray(I, w, o + 3 * h + k)
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
        a30 = w3.fma(x0, a30);
        a31 = w3.fma(x1, a31);
        a32 = w3.fma(x2, a32);
        a33 = w3.fma(x3, a33);
      }
      for (int k = 0; k < h; k += L) {
        FloatVector x0 = FloatVector.fromArray(F, x, xOff + h + k);
        FloatVector x1 = FloatVector.fromArray(F, x, xOff + in + h + k);
        FloatVector x2 = FloatVector.fromArray(F, x, xOff + 2 * in + h + k);
        FloatVector x3 = FloatVector.fromArray(F, x, xOff + 3 * in + h + k);
        FloatVector w0 = IntVector.fromArray(I, w, o + k).and(0xFFFF0000).reinterpretAsFloats();
        a00 = w0.fma(x0, a00);
        a01 = w0.fma(x1, a01);
        a02 = w0.fma(x2, a02);
        a03 = w0.fma(x3, a03);
        FloatVector w1 = IntVector.fromArray(I, w, o + h + k).and(0xFFFF0000).reinterpretAsFloats();
        a10 = w1.fma(x0, a10);
        a11 = w1.fma(x1, a11);
        a12 = w1.fma(x2, a12);
        a13 = w1.fma(x3, a13);
        FloatVector w2 =
            IntVector.fromArray(I, w, o + 2 * h + k).and(0xFFFF0000).reinterpretAsFloats();
        a20 = w2.fma(x0, a20);
        a21 = w2.fma(x1, a21);
        a22 = w2.fma(x2, a22);
        a23 = w2.fma(x3, a23);
        FloatVector w3 =
            IntVector.fromArray(I, w, o + 3 * h + k).and(0xFFFF0000).reinterpretAsFloats();
        a30 = w3.fma(x0, a30);
        a31 = w3.fma(x1, a31);
        a32 = w3.fma(x2, a32);
        a33 = w3.fma(x3, a33);
      }
      a00.intoArray(red, 0 * L);
      a01.intoArray(red, 1 * L);
      a02.intoArray(red, 2 * L);
      a03.intoArray(red, 3 * L);
      a10.intoArray(red, 4 * L);
      a11.intoArray(red, 5 * L);
      a12.intoArray(red, 6 * L);
      a13.intoArray(red, 7 * L);
      a20.intoArray(red, 8 * L);
      a21.intoArray(red, 9 * L);
      a22.intoArray(red, 10 * L);
      a23.intoArray(red, 11 * L);
      a30.intoArray(red, 12 * L);
      a31.intoArray(red, 13 * L);
      a32.intoArray(red, 14 * L);
      a33.intoArray(red, 15 * L);
      store4x4(red, y, yOff, out, j);
    }

    /**
     * One int of every 64-byte line in [from, to), summed (the caller keeps the sum, so the loads
     * stay): brings the lines into cache.
     */
    private static int fetch(int[] w, int from, int to) {
      int t = 0;
      for (int i = from; i < to; i += 16) t += w[i];
      return t;
    }

    /** Never called: {@link #block4} widens each packed int in registers instead. */
    @Override
    void widen4(int j, float[] wide) {
      throw new UnsupportedOperationException("bf16 tiles widen in registers (block4)");
    }

    @Override
    float touch(int band, int bands) {
      int per = (w.length / L + bands - 1) / bands * L;
      int from = Math.min(w.length, band * per);
      int to = Math.min(w.length, from + per);
      IntVector acc = IntVector.zero(I);
      for (int k = from; k < to; k += L) acc = acc.add(IntVector.fromArray(I, w, k));
      return acc.reduceLanes(VectorOperators.ADD);
    }
  }

  /**
   * Q8_0 as llama.cpp defines it: each row is cut into blocks of 32 columns; a block keeps {@code d
   * = max|w| / 127} rounded to float16 and {@code q = round(w / d)} as int8 (w ≈ q·d). Kernels
   * widen int8 lanes to float, scale by the block's d and accumulate in float32 (llama.cpp also
   * quantizes the activations to int8; this does not, so its error is at most llama.cpp's).
   */
  static final class Q8 extends PackedMatrix {
    static final int BLOCK = 32;
    final byte[] q;
    final float[] d;
    private final int blocks;

    Q8(int rows, int cols) {
      super(rows, cols);
      this.blocks = cols / BLOCK;
      this.q = new byte[rows * cols];
      this.d = new float[rows * blocks];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.Q8_0;
    }

    @Override
    long bytes() {
      return q.length + 4L * d.length;
    }

    @Override
    void row(int r, float[] dst, int off) {
      for (int b = 0; b < blocks; b++) {
        float s = d[r * blocks + b];
        int base = r * cols + b * BLOCK;
        for (int i = 0; i < BLOCK; i++) dst[off + b * BLOCK + i] = q[base + i] * s;
      }
    }

    @Override
    void setRow(int r, float[] src) {
      for (int b = 0; b < blocks; b++) {
        float amax = 0;
        for (int i = 0; i < BLOCK; i++) amax = Math.max(amax, Math.abs(src[b * BLOCK + i]));
        float scale = amax / 127f;
        float inv = scale != 0 ? 1f / scale : 0f;
        d[r * blocks + b] = HalfFloats.roundToF16(scale);
        int base = r * cols + b * BLOCK;
        for (int i = 0; i < BLOCK; i++) q[base + i] = (byte) Math.round(src[b * BLOCK + i] * inv);
      }
    }

    /** One input row: each weight row is one sequential stream (see {@link Bf16#tile4x1}). */
    @Override
    void tile4x1(float[] x, int xOff, float[] y, int yOff, int j, float[] red) {
      for (int r = j; r < j + 4; r++)
        y[yOff + r] = dot(q, d, r * cols, r * blocks, blocks, x, xOff, red);
    }

    /**
     * One row (int8 from o, scales from ob) against one input row, one chain; small, so C2 compiles
     * it in place.
     */
    private static float dot(
        byte[] q, float[] d, int o, int ob, int blocks, float[] x, int xOff, float[] red) {
      FloatVector a = FloatVector.zero(F);
      for (int b = 0; b < blocks; b++) {
        FloatVector db = FloatVector.broadcast(F, d[ob + b]);
        for (int i = 0; i < BLOCK; i += L) {
          int k = b * BLOCK + i;
          FloatVector wv =
              (FloatVector)
                  ByteVector.fromArray(B, q, o + k).convertShape(VectorOperators.B2F, F, 0);
          a = wv.mul(db).fma(FloatVector.fromArray(F, x, xOff + k), a);
        }
      }
      a.intoArray(red, 0);
      return lanes(red, 0);
    }

    /** Each weight as q·d, the value {@link #dot} multiplies. */
    @Override
    void widen4(int j, float[] wide) {
      dequantize(q, d, j * cols, j * blocks, 4 * blocks, wide);
    }

    /**
     * {@code n} blocks from int8 {@code o} and scale {@code ob} into float32; small, so C2 compiles
     * it in place.
     */
    private static void dequantize(byte[] q, float[] d, int o, int ob, int n, float[] wide) {
      for (int b = 0; b < n; b++) {
        FloatVector db = FloatVector.broadcast(F, d[ob + b]);
        for (int i = 0; i < BLOCK; i += L) {
          int k = b * BLOCK + i;
          ((FloatVector) ByteVector.fromArray(B, q, o + k).convertShape(VectorOperators.B2F, F, 0))
              .mul(db)
              .intoArray(wide, k);
        }
      }
    }

    @Override
    float touch(int band, int bands) {
      int per = (q.length / B.length() + bands - 1) / bands * B.length();
      int from = Math.min(q.length, band * per);
      int to = Math.min(q.length, from + per);
      ByteVector acc = ByteVector.zero(B);
      for (int k = from; k < to; k += B.length()) acc = acc.add(ByteVector.fromArray(B, q, k));
      float s = acc.reduceLanes(VectorOperators.ADD);
      int dp = (d.length + bands - 1) / bands;
      for (int k = band * dp; k < Math.min(d.length, (band + 1) * dp); k++) s += d[k];
      return s;
    }
  }

  /**
   * Lane sums of a 4×4 tile spilled to {@code red} (accumulator 4i + r at {@code (4i + r)·L}:
   * weight row j+i against input row r) into y. Scalar, in lane order ({@link #lanes}), like every
   * other output.
   */
  static void store4x4(float[] red, float[] y, int yOff, int out, int j) {
    for (int i = 0; i < 4; i++) {
      for (int r = 0; r < 4; r++) y[yOff + r * out + j + i] = lanes(red, (4 * i + r) * L);
    }
  }

  /**
   * The sum of L lanes spilled at red[off …], in lane order. A kernel's lane sums must not depend
   * on how the JIT compiled it: {@code reduceLanes(ADD)} leaves the order open (C2 on JDK 25 adds
   * as a tree, the interpreter in order), and a vector tree of shuffles in a helper is too large
   * for C2 to inline into the tiles, which then box their vectors. Spilling with intoArray and
   * adding here is the same on every tier.
   */
  static float lanes(float[] red, int off) {
    float s = red[off];
    for (int i = 1; i < L; i++) s += red[off + i];
    return s;
  }
}
