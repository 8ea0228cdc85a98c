package tandem.decoder.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU decode kernel's arithmetic, on the Java Vector API (SIMD; AVX2/AVX-512 on x86). Weights and the KV cache
 * are read straight from the direct buffers libtorch also uses, so nothing is copied.
 *
 * <p>Why not libtorch: a decode step multiplies a handful of rows by every weight matrix. libtorch's skinny GEMM is
 * compute-bound at ~20 GFLOP/s per thread here, so 8 rows cost ~4x one row; {@link #matmul} holds a 4×4 block of
 * (weight row, input row) accumulators in registers, reads each weight row from memory once for all input rows, and
 * stays bound by memory bandwidth up to ~8 rows. Each output is a plain dot product accumulated in the same order
 * whatever the number of rows, so batching never changes a row's result (bit for bit).
 */
final class VectorOps {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final int L = F.length();
  static final ByteOrder ORDER = ByteOrder.nativeOrder();
  /** Weight rows per tile: four row streams keep enough memory requests in flight for one thread. */
  private static final int TILE = 4;

  private VectorOps() {}

  /** Rows of input a caller must allocate for {@code rows} rows: {@link #matmul} reads and writes in blocks of 4. */
  static int paddedRows(int rows) {
    return rows <= 1 ? rows : (rows + 3) & ~3;
  }

  /**
   * {@code y[r, j] = Σ_k w[j, k] · x[r, k]} for r < rows: w is float32 {@code [out, in]} row-major at byte 0 of
   * {@code w}; x is {@code [rows, in]} and y {@code [rows, out]}, both allocated for {@link #paddedRows}(rows) rows
   * (the padding rows' contents are ignored and their results are garbage). Runs on {@code pool}.
   */
  static void matmul(ByteBuffer w, int out, int in, float[] x, int rows, float[] y, IntraOpPool pool) {
    int padded = paddedRows(rows);
    if (x.length < (long) padded * in || y.length < (long) padded * out) {
      throw new IllegalArgumentException("matmul buffers must hold " + padded + " padded rows");
    }
    if (w.capacity() < (long) out * in * 4) throw new IllegalArgumentException("weight buffer is too small");
    int tiles = out / TILE;
    int perTask = Math.max(1, (tiles + pool.threads() * 4 - 1) / (pool.threads() * 4));
    int tasks = (tiles + perTask - 1) / perTask;
    pool.parallelFor(
        tasks,
        t -> {
          int j1 = Math.min(tiles, (t + 1) * perTask) * TILE;
          for (int j = t * perTask * TILE; j < j1; j += TILE) {
            if (rows == 1) {
              tile4x1(w, in, x, 0, y, 0, j);
            } else {
              // the tile's 4 weight rows (16 KB at in=1024) stay in L1 for the next block of input rows
              for (int r = 0; r < rows; r += 4) tile4x4(w, in, x, r * in, y, r * out, out, j);
            }
          }
        });
    for (int j = tiles * TILE; j < out; j++) { // rows of w past the last full tile
      for (int r = 0; r < rows; r++) y[r * out + j] = dot(w, j * in, x, r * in, in);
    }
  }

  /** One weight row against one input row, in the same order as the tiles (lane partial sums, then the tail). */
  private static float dot(ByteBuffer w, int wRow, float[] x, int xOff, int in) {
    int upper = F.loopBound(in);
    FloatVector acc = FloatVector.zero(F);
    for (int k = 0; k < upper; k += L) {
      acc = FloatVector.fromByteBuffer(F, w, (wRow + k) * 4, ORDER).fma(FloatVector.fromArray(F, x, xOff + k), acc);
    }
    float s = acc.reduceLanes(VectorOperators.ADD);
    for (int k = upper; k < in; k++) s += w.getFloat((wRow + k) * 4) * x[xOff + k];
    return s;
  }

  private static void tile4x1(ByteBuffer w, int in, float[] x, int xOff, float[] y, int yOff, int j) {
    int upper = F.loopBound(in);
    int in4 = in * 4;
    int o = j * in4;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    for (int k = 0; k < upper; k += L) {
      FloatVector xv = FloatVector.fromArray(F, x, xOff + k);
      int b = o + 4 * k;
      a0 = FloatVector.fromByteBuffer(F, w, b, ORDER).fma(xv, a0);
      a1 = FloatVector.fromByteBuffer(F, w, b + in4, ORDER).fma(xv, a1);
      a2 = FloatVector.fromByteBuffer(F, w, b + 2 * in4, ORDER).fma(xv, a2);
      a3 = FloatVector.fromByteBuffer(F, w, b + 3 * in4, ORDER).fma(xv, a3);
    }
    y[yOff + j] = finish(a0, w, j * in, x, xOff, upper, in);
    y[yOff + j + 1] = finish(a1, w, (j + 1) * in, x, xOff, upper, in);
    y[yOff + j + 2] = finish(a2, w, (j + 2) * in, x, xOff, upper, in);
    y[yOff + j + 3] = finish(a3, w, (j + 3) * in, x, xOff, upper, in);
  }

  /** Weight rows j..j+3 against input rows at xOff..xOff+3·in. */
  private static void tile4x4(ByteBuffer w, int in, float[] x, int xOff, float[] y, int yOff, int out, int j) {
    int upper = F.loopBound(in);
    int in4 = in * 4;
    int o = j * in4;
    FloatVector z = FloatVector.zero(F);
    FloatVector a00 = z, a01 = z, a02 = z, a03 = z;
    FloatVector a10 = z, a11 = z, a12 = z, a13 = z;
    FloatVector a20 = z, a21 = z, a22 = z, a23 = z;
    FloatVector a30 = z, a31 = z, a32 = z, a33 = z;
    for (int k = 0; k < upper; k += L) {
      FloatVector x0 = FloatVector.fromArray(F, x, xOff + k);
      FloatVector x1 = FloatVector.fromArray(F, x, xOff + in + k);
      FloatVector x2 = FloatVector.fromArray(F, x, xOff + 2 * in + k);
      FloatVector x3 = FloatVector.fromArray(F, x, xOff + 3 * in + k);
      int b = o + 4 * k;
      FloatVector w0 = FloatVector.fromByteBuffer(F, w, b, ORDER);
      a00 = w0.fma(x0, a00);
      a01 = w0.fma(x1, a01);
      a02 = w0.fma(x2, a02);
      a03 = w0.fma(x3, a03);
      FloatVector w1 = FloatVector.fromByteBuffer(F, w, b + in4, ORDER);
      a10 = w1.fma(x0, a10);
      a11 = w1.fma(x1, a11);
      a12 = w1.fma(x2, a12);
      a13 = w1.fma(x3, a13);
      FloatVector w2 = FloatVector.fromByteBuffer(F, w, b + 2 * in4, ORDER);
      a20 = w2.fma(x0, a20);
      a21 = w2.fma(x1, a21);
      a22 = w2.fma(x2, a22);
      a23 = w2.fma(x3, a23);
      FloatVector w3 = FloatVector.fromByteBuffer(F, w, b + 3 * in4, ORDER);
      a30 = w3.fma(x0, a30);
      a31 = w3.fma(x1, a31);
      a32 = w3.fma(x2, a32);
      a33 = w3.fma(x3, a33);
    }
    int r0 = j * in;
    int r1 = r0 + in;
    int r2 = r1 + in;
    int r3 = r2 + in;
    y[yOff + j] = finish(a00, w, r0, x, xOff, upper, in);
    y[yOff + out + j] = finish(a01, w, r0, x, xOff + in, upper, in);
    y[yOff + 2 * out + j] = finish(a02, w, r0, x, xOff + 2 * in, upper, in);
    y[yOff + 3 * out + j] = finish(a03, w, r0, x, xOff + 3 * in, upper, in);
    y[yOff + j + 1] = finish(a10, w, r1, x, xOff, upper, in);
    y[yOff + out + j + 1] = finish(a11, w, r1, x, xOff + in, upper, in);
    y[yOff + 2 * out + j + 1] = finish(a12, w, r1, x, xOff + 2 * in, upper, in);
    y[yOff + 3 * out + j + 1] = finish(a13, w, r1, x, xOff + 3 * in, upper, in);
    y[yOff + j + 2] = finish(a20, w, r2, x, xOff, upper, in);
    y[yOff + out + j + 2] = finish(a21, w, r2, x, xOff + in, upper, in);
    y[yOff + 2 * out + j + 2] = finish(a22, w, r2, x, xOff + 2 * in, upper, in);
    y[yOff + 3 * out + j + 2] = finish(a23, w, r2, x, xOff + 3 * in, upper, in);
    y[yOff + j + 3] = finish(a30, w, r3, x, xOff, upper, in);
    y[yOff + out + j + 3] = finish(a31, w, r3, x, xOff + in, upper, in);
    y[yOff + 2 * out + j + 3] = finish(a32, w, r3, x, xOff + 2 * in, upper, in);
    y[yOff + 3 * out + j + 3] = finish(a33, w, r3, x, xOff + 3 * in, upper, in);
  }

  /** Lane sum of acc plus the scalar tail k in [upper, in) (empty when in is a multiple of the vector length). */
  private static float finish(FloatVector acc, ByteBuffer w, int wRow, float[] x, int xOff, int upper, int in) {
    float s = acc.reduceLanes(VectorOperators.ADD);
    for (int k = upper; k < in; k++) s += w.getFloat((wRow + k) * 4) * x[xOff + k];
    return s;
  }

  /**
   * Attention scores of one or two query heads against one cached K head stored transposed ({@code [headDim,
   * maxSeqLen]}, row stride {@code stride} floats from {@code kBase}): {@code s[h·len + t] = Σ_d q[qOff + h·headDim + d]
   * · K[d, t]} for t < len. Row d of Kᵀ is read contiguously (a register-blocked loop over d instead strides across
   * cache lines and measured 3× slower); two heads share every K load.
   */
  static void scores(float[] q, int qOff, int heads, int headDim, ByteBuffer k, int kBase, int stride, int len,
      float[] s) {
    java.util.Arrays.fill(s, 0, heads * len, 0f);
    int upper = F.loopBound(len);
    for (int d = 0; d < headDim; d++) {
      int row = (kBase + d * stride) * 4;
      float c0 = q[qOff + d];
      float c1 = heads == 2 ? q[qOff + headDim + d] : 0f;
      FloatVector b0 = FloatVector.broadcast(F, c0);
      FloatVector b1 = FloatVector.broadcast(F, c1);
      int t = 0;
      for (; t < upper; t += L) {
        FloatVector kv = FloatVector.fromByteBuffer(F, k, row + 4 * t, ORDER);
        kv.fma(b0, FloatVector.fromArray(F, s, t)).intoArray(s, t);
        if (heads == 2) kv.fma(b1, FloatVector.fromArray(F, s, len + t)).intoArray(s, len + t);
      }
      for (; t < len; t++) {
        float kv = k.getFloat(row + 4 * t);
        s[t] += c0 * kv;
        if (heads == 2) s[len + t] += c1 * kv;
      }
    }
  }

  /**
   * The attention output of one or two heads: {@code out[outOff + h·headDim + d] = Σ_t p[h·len + t] · V[t, d]} for
   * one cached V head ({@code [maxSeqLen, headDim]} from {@code vBase}); V is read row by row (contiguous), and two
   * heads share every V load.
   */
  static void weighted(float[] p, int heads, int len, ByteBuffer v, int vBase, int headDim, float[] out, int outOff) {
    java.util.Arrays.fill(out, outOff, outOff + heads * headDim, 0f);
    int upper = F.loopBound(headDim);
    int o1 = outOff + headDim;
    for (int t = 0; t < len; t++) {
      int row = (vBase + t * headDim) * 4;
      float c0 = p[t];
      float c1 = heads == 2 ? p[len + t] : 0f;
      FloatVector b0 = FloatVector.broadcast(F, c0);
      FloatVector b1 = FloatVector.broadcast(F, c1);
      int d = 0;
      for (; d < upper; d += L) {
        FloatVector vv = FloatVector.fromByteBuffer(F, v, row + 4 * d, ORDER);
        vv.fma(b0, FloatVector.fromArray(F, out, outOff + d)).intoArray(out, outOff + d);
        if (heads == 2) vv.fma(b1, FloatVector.fromArray(F, out, o1 + d)).intoArray(out, o1 + d);
      }
      for (; d < headDim; d++) {
        float vv = v.getFloat(row + 4 * d);
        out[outOff + d] += c0 * vv;
        if (heads == 2) out[o1 + d] += c1 * vv;
      }
    }
  }

  /** In-place softmax of v[off, off + n) in float32 (max-subtracted, as libtorch computes it). */
  static void softmax(float[] v, int off, int n) {
    int upper = F.loopBound(n);
    float max = Float.NEGATIVE_INFINITY;
    int i = 0;
    if (upper > 0) {
      FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
      for (; i < upper; i += L) m = m.max(FloatVector.fromArray(F, v, off + i));
      max = m.reduceLanes(VectorOperators.MAX);
    }
    for (; i < n; i++) max = Math.max(max, v[off + i]);
    FloatVector mv = FloatVector.broadcast(F, max);
    FloatVector sv = FloatVector.zero(F);
    for (i = 0; i < upper; i += L) {
      FloatVector e = FloatVector.fromArray(F, v, off + i).sub(mv).lanewise(VectorOperators.EXP);
      e.intoArray(v, off + i);
      sv = sv.add(e);
    }
    float sum = sv.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      v[off + i] = (float) Math.exp(v[off + i] - max);
      sum += v[off + i];
    }
    float inv = 1f / sum;
    FloatVector iv = FloatVector.broadcast(F, inv);
    for (i = 0; i < upper; i += L) FloatVector.fromArray(F, v, off + i).mul(iv).intoArray(v, off + i);
    for (; i < n; i++) v[off + i] *= inv;
  }

  /** {@code act[r, i] = silu(gu[r, i]) · gu[r, inter + i]} for gu {@code [rows, 2·inter]}, act {@code [rows, inter]}. */
  static void siluMul(float[] gu, float[] act, int rows, int inter) {
    int upper = F.loopBound(inter);
    for (int r = 0; r < rows; r++) {
      int g = r * 2 * inter;
      int u = g + inter;
      int a = r * inter;
      int i = 0;
      for (; i < upper; i += L) {
        FloatVector gv = FloatVector.fromArray(F, gu, g + i);
        FloatVector sig = gv.neg().lanewise(VectorOperators.EXP).add(1f);
        gv.div(sig).mul(FloatVector.fromArray(F, gu, u + i)).intoArray(act, a + i);
      }
      for (; i < inter; i++) {
        float gv = gu[g + i];
        act[a + i] = gv / (1f + (float) Math.exp(-gv)) * gu[u + i];
      }
    }
  }

  /** {@code 1 / sqrt(mean(x[off, off+n)²) + eps)}, the RMSNorm scale, with float32 statistics. */
  static float rmsScale(float[] x, int off, int n, float eps) {
    int upper = F.loopBound(n);
    FloatVector acc = FloatVector.zero(F);
    int i = 0;
    for (; i < upper; i += L) {
      FloatVector v = FloatVector.fromArray(F, x, off + i);
      acc = v.fma(v, acc);
    }
    float s = acc.reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) s += x[off + i] * x[off + i];
    return (float) (1.0 / Math.sqrt(s / n + eps));
  }
}
