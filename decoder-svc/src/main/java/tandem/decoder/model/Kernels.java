package tandem.decoder.model;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Java kernel's row-wise arithmetic on the Vector API ({@code SPECIES_PREFERRED}: AVX-512 or
 * AVX2 as the host has it), over Java arrays only: RMSNorm, SiLU·up, softmax and the two halves of
 * attention over {@link KvPool}. The matrix products are {@link PackedMatrix#matmul}.
 */
final class Kernels {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final int L = F.length();

  // Rotations by 16, 8, 4, 2 and 1 lanes for sum(): constants (static final, one per step, no loop)
  // so that C2
  // intrinsifies the rearranges; a loop over an array of shuffles made callers box their vectors
  // (~20x slower).
  private static final VectorShuffle<Float> R16 = VectorShuffle.iota(F, 16, 1, true);
  private static final VectorShuffle<Float> R8 = VectorShuffle.iota(F, 8, 1, true);
  private static final VectorShuffle<Float> R4 = VectorShuffle.iota(F, 4, 1, true);
  private static final VectorShuffle<Float> R2 = VectorShuffle.iota(F, 2, 1, true);
  private static final VectorShuffle<Float> R1 = VectorShuffle.iota(F, 1, 1, true);

  /**
   * All ones. JDK 17's C2 types a vector that comes from a loop or a parameter as the abstract
   * FloatVector, and a Vector API call on such a receiver may not compile to vector instructions:
   * JFR showed the boxed lane-by-lane fallback ({@code FloatVector.max}, {@code lanewiseTemplate})
   * under softmax and exp. So a loop-carried or incoming vector is not made the receiver: operands
   * are swapped where the operation commutes exactly (max, add), or the vector is first multiplied
   * by a constant like this one (a static final vector has an exact class), which leaves every
   * value as it was. The fallback frames are gone from the profile; the step time did not move
   * measurably (one JVM, both builds alternating: 1.01x one row, 1.04x eight rows, within the
   * noise).
   */
  private static final FloatVector ONES = FloatVector.broadcast(F, 1f);

  private static final FloatVector CLAMP = FloatVector.broadcast(F, -87.3f);

  private Kernels() {}

  /**
   * The sum of a vector's lanes as a fixed pairwise tree (lane i + lane i+L/2, then …; L is at most
   * 64). {@code reduceLanes(ADD)} leaves the order of additions unspecified, and the JIT's tree and
   * the interpreter's loop do differ in the last bit: a row would then get other results before and
   * after compilation, and batch invariance would hold only by luck.
   */
  static float sum(FloatVector v) {
    v = ONES.mul(v); // exact (1·v = v), and typed: see ONES
    if (L >= 32) v = v.add(v.rearrange(R16));
    if (L >= 16) v = v.add(v.rearrange(R8));
    if (L >= 8) v = v.add(v.rearrange(R4));
    if (L >= 4) v = v.add(v.rearrange(R2));
    if (L >= 2) v = v.add(v.rearrange(R1));
    return v.lane(0);
  }

  /**
   * Rows a caller allocates for {@code rows} rows: matmul reads and writes input rows in blocks of
   * 4.
   */
  static int paddedRows(int rows) {
    return rows <= 1 ? rows : (rows + 3) & ~3;
  }

  /**
   * e^x from IEEE operations alone (Cephes expf: x = n·ln2 + r, a degree-6 polynomial for e^r, 2^n
   * into the exponent; within 2 ulp of Math.exp over the float range; inputs are clamped to [-87.3,
   * 88.0], so it never gives 0 or infinity). The Vector API's own EXP is not reproducible across
   * the interpreter and compiled code (a vector math library versus Math.exp lane by lane), and
   * softmax and SiLU must give a row the same bits whenever it runs.
   */
  static FloatVector exp(FloatVector x) {
    x = CLAMP.max(x).min(88.0f); // CLAMP as the receiver: typed, see ONES
    FloatVector t = x.fma(LOG2E, ROUND); // 1.5·2^23 + round(x / ln2), ties to even, exactly
    FloatVector k = t.sub(ROUND);
    FloatVector r = k.fma(NEG_LN2_HI, x);
    r = k.fma(NEG_LN2_LO, r);
    FloatVector p = r.fma(P0, P1).fma(r, P2).fma(r, P3).fma(r, P4).fma(r, P5);
    FloatVector e = p.mul(r.mul(r)).add(r).add(1f);
    // k as an int, read from t's mantissa (t's ulp is 1, so bits(t) = bits(1.5·2^23) + k): the
    // same integer as (int) k, without the F2I conversion, which JDK 17's C2 does not compile
    // for 512-bit vectors and runs lane by lane through a boxed fallback.
    IntVector n = t.reinterpretAsInts().sub(ROUND_BITS);
    IntVector bits = n.add(127).lanewise(VectorOperators.LSHL, 23);
    return e.mul(bits.reinterpretAsFloats());
  }

  /**
   * The scalar twin of {@link #exp(FloatVector)}, for tails: the same operations in the same order.
   */
  static float exp(float x) {
    x = Math.min(Math.max(x, -87.3f), 88.0f);
    float k = Math.fma(x, 1.44269504088896341f, 12582912f) - 12582912f;
    float r = Math.fma(k, -0.693359375f, x);
    r = Math.fma(k, 2.12194440e-4f, r);
    float p =
        Math.fma(
            Math.fma(
                Math.fma(
                    Math.fma(Math.fma(r, 1.9875691500E-4f, 1.3981999507E-3f), r, 8.3334519073E-3f),
                    r,
                    4.1665795894E-2f),
                r,
                1.6666665459E-1f),
            r,
            5.0000001201E-1f);
    float e = p * (r * r) + r + 1f;
    return e * Float.intBitsToFloat(((int) k + 127) << 23);
  }

  private static final FloatVector LOG2E = FloatVector.broadcast(F, 1.44269504088896341f);
  private static final FloatVector ROUND = FloatVector.broadcast(F, 12582912f); // 1.5·2^23
  private static final int ROUND_BITS = Float.floatToRawIntBits(12582912f);
  private static final FloatVector NEG_LN2_HI = FloatVector.broadcast(F, -0.693359375f);
  private static final FloatVector NEG_LN2_LO = FloatVector.broadcast(F, 2.12194440e-4f);
  private static final FloatVector P0 = FloatVector.broadcast(F, 1.9875691500E-4f);
  private static final FloatVector P1 = FloatVector.broadcast(F, 1.3981999507E-3f);
  private static final FloatVector P2 = FloatVector.broadcast(F, 8.3334519073E-3f);
  private static final FloatVector P3 = FloatVector.broadcast(F, 4.1665795894E-2f);
  private static final FloatVector P4 = FloatVector.broadcast(F, 1.6666665459E-1f);
  private static final FloatVector P5 = FloatVector.broadcast(F, 5.0000001201E-1f);

  /** {@code 1 / sqrt(mean(x[off, off+n)²) + eps)}, the RMSNorm scale, with float32 statistics. */
  static float rmsScale(float[] x, int off, int n, float eps) {
    int upper = F.loopBound(n);
    FloatVector acc = FloatVector.zero(F);
    int i = 0;
    for (; i < upper; i += L) {
      FloatVector v = FloatVector.fromArray(F, x, off + i);
      acc = v.fma(v, acc);
    }
    float s = sum(acc);
    for (; i < n; i++) s += x[off + i] * x[off + i];
    return (float) (1.0 / Math.sqrt(s / n + eps));
  }

  /** HF Qwen3RMSNorm of each row: {@code dst = w ⊙ (x · rmsScale(x))}. */
  static void rmsNorm(float[] x, float[] dst, int rows, int h, float[] w, float eps) {
    for (int r = 0; r < rows; r++) {
      int off = r * h;
      weightRow(x, off, rmsScale(x, off, h, eps), w, dst, off, h);
    }
  }

  /**
   * {@code dst[dOff + i] = w[i] · (x[off + i] · s)} for i < n: an RMSNorm's weighting of a row it
   * has scaled by s. Two roundings per element, in that order, in the vector lanes and the tail.
   */
  static void weightRow(float[] x, int off, float s, float[] w, float[] dst, int dOff, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromArray(F, w, i)
          .mul(FloatVector.fromArray(F, x, off + i).mul(s))
          .intoArray(dst, dOff + i);
    }
    for (; i < n; i++) dst[dOff + i] = w[i] * (x[off + i] * s);
  }

  static void addInto(float[] acc, float[] v, int n) {
    for (int i = 0; i < n; i++) acc[i] += v[i];
  }

  /**
   * {@code act[r, i] = silu(gu[r, i]) · gu[r, inter + i]} for gu {@code [rows, 2·inter]}, act
   * {@code [rows, inter]}.
   */
  static void siluMul(float[] gu, float[] act, int r, int inter) {
    int upper = F.loopBound(inter);
    int g = r * 2 * inter;
    int u = g + inter;
    int a = r * inter;
    int i = 0;
    for (; i < upper; i += L) {
      FloatVector gv = FloatVector.fromArray(F, gu, g + i);
      FloatVector sig = exp(gv.neg()).add(1f);
      gv.div(sig).mul(FloatVector.fromArray(F, gu, u + i)).intoArray(act, a + i);
    }
    for (; i < inter; i++) {
      float gv = gu[g + i];
      act[a + i] = gv / (1f + exp(-gv)) * gu[u + i];
    }
  }

  /**
   * In place: {@code v[off, off+n) = softmax(v · scale)} in float32 (scores scaled as HF scales
   * them, then max-subtracted as libtorch computes softmax).
   */
  static void scaledSoftmax(float[] v, int off, int n, float scale) {
    int upper = F.loopBound(n);
    FloatVector sc = FloatVector.broadcast(F, scale);
    float max = Float.NEGATIVE_INFINITY;
    int i = 0;
    if (upper > 0) {
      FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
      for (; i < upper; i += L) {
        FloatVector e = FloatVector.fromArray(F, v, off + i).mul(sc);
        e.intoArray(v, off + i);
        m = e.max(m); // e as the receiver: typed, see ONES
      }
      max = m.reduceLanes(VectorOperators.MAX);
    }
    for (; i < n; i++) {
      v[off + i] *= scale;
      max = Math.max(max, v[off + i]);
    }
    FloatVector mv = FloatVector.broadcast(F, max);
    FloatVector sv = FloatVector.zero(F);
    for (i = 0; i < upper; i += L) {
      FloatVector e = exp(FloatVector.fromArray(F, v, off + i).sub(mv));
      e.intoArray(v, off + i);
      sv = e.add(sv);
    }
    float sum = sum(sv);
    for (; i < n; i++) {
      v[off + i] = exp(v[off + i] - max);
      sum += v[off + i];
    }
    float inv = 1f / sum;
    FloatVector iv = FloatVector.broadcast(F, inv);
    for (i = 0; i < upper; i += L)
      FloatVector.fromArray(F, v, off + i).mul(iv).intoArray(v, off + i);
    for (; i < n; i++) v[off + i] *= inv;
  }

  /**
   * Raw attention scores of one or two query heads ({@code q[qOff …]}, then the next head at {@code
   * qOff + d}) against one K block ({@code [d, 2L]} from {@code kBase}, the {@link KvPool} float32
   * layout): {@code s[h·stride + sOff + t] = Σ_i q_h[i]·K[i, t]} for all 2L positions of the block
   * (the caller ignores those past the sequence). The block's scores stay in four registers over
   * the whole head dimension.
   */
  static void scores(
      float[] q,
      int qOff,
      int heads,
      int d,
      float[] k,
      int kBase,
      float[] s,
      int sOff,
      int stride) {
    int bt = 2 * L;
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, a1 = z, b0 = z, b1 = z;
    if (heads == 2) {
      for (int i = 0; i < d; i++) {
        int row = kBase + i * bt;
        FloatVector k0 = FloatVector.fromArray(F, k, row);
        FloatVector k1 = FloatVector.fromArray(F, k, row + L);
        FloatVector q0 = FloatVector.broadcast(F, q[qOff + i]);
        FloatVector q1 = FloatVector.broadcast(F, q[qOff + d + i]);
        a0 = k0.fma(q0, a0);
        a1 = k1.fma(q0, a1);
        b0 = k0.fma(q1, b0);
        b1 = k1.fma(q1, b1);
      }
      b0.intoArray(s, stride + sOff);
      b1.intoArray(s, stride + sOff + L);
    } else {
      for (int i = 0; i < d; i++) {
        int row = kBase + i * bt;
        FloatVector q0 = FloatVector.broadcast(F, q[qOff + i]);
        a0 = FloatVector.fromArray(F, k, row).fma(q0, a0);
        a1 = FloatVector.fromArray(F, k, row + L).fma(q0, a1);
      }
    }
    a0.intoArray(s, sOff);
    a1.intoArray(s, sOff + L);
  }

  /**
   * Adds one V block's share of the attention output of one or two heads: {@code out[outOff + h·d +
   * i] += Σ_{t < count} p[h·stride + pOff + t] · V[t, i]}, V {@code [2L, d]} from {@code vBase}.
   * The output columns stay in registers while the block's rows stream by: two heads take four
   * column chunks per pass over the rows ({@link #weightedFour}), the chunks left over and one head
   * one chunk per pass.
   */
  static void weighted(
      float[] p,
      int pOff,
      int stride,
      int heads,
      int count,
      float[] v,
      int vBase,
      int d,
      float[] out,
      int outOff) {
    int o1 = outOff + d;
    int c = 0;
    if (heads == 2) {
      for (; c + 4 * L <= d; c += 4 * L)
        weightedFour(p, pOff, stride, count, v, vBase + c, d, out, outOff + c, o1 + c);
    }
    for (; c < d; c += L) {
      FloatVector acc0 = FloatVector.fromArray(F, out, outOff + c);
      if (heads == 2) {
        FloatVector acc1 = FloatVector.fromArray(F, out, o1 + c);
        for (int t = 0; t < count; t++) {
          FloatVector vv = FloatVector.fromArray(F, v, vBase + t * d + c);
          acc0 = vv.fma(FloatVector.broadcast(F, p[pOff + t]), acc0);
          acc1 = vv.fma(FloatVector.broadcast(F, p[stride + pOff + t]), acc1);
        }
        acc1.intoArray(out, o1 + c);
      } else {
        for (int t = 0; t < count; t++) {
          acc0 =
              FloatVector.fromArray(F, v, vBase + t * d + c)
                  .fma(FloatVector.broadcast(F, p[pOff + t]), acc0);
        }
      }
      acc0.intoArray(out, outOff + c);
    }
  }

  /**
   * Four column chunks of two heads' outputs from float32 V columns at {@code vc}: {@link
   * #weightedBf16Four} without the widening, each output the same chain as {@link #weighted}'s
   * one-chunk loop.
   */
  private static void weightedFour(
      float[] p,
      int pOff,
      int stride,
      int count,
      float[] v,
      int vc,
      int d,
      float[] out,
      int o0,
      int o1) {
    FloatVector a0 = FloatVector.fromArray(F, out, o0);
    FloatVector a1 = FloatVector.fromArray(F, out, o0 + L);
    FloatVector a2 = FloatVector.fromArray(F, out, o0 + 2 * L);
    FloatVector a3 = FloatVector.fromArray(F, out, o0 + 3 * L);
    FloatVector b0 = FloatVector.fromArray(F, out, o1);
    FloatVector b1 = FloatVector.fromArray(F, out, o1 + L);
    FloatVector b2 = FloatVector.fromArray(F, out, o1 + 2 * L);
    FloatVector b3 = FloatVector.fromArray(F, out, o1 + 3 * L);
    for (int t = 0; t < count; t++) {
      int row = vc + t * d;
      FloatVector x0 = FloatVector.fromArray(F, v, row);
      FloatVector x1 = FloatVector.fromArray(F, v, row + L);
      FloatVector x2 = FloatVector.fromArray(F, v, row + 2 * L);
      FloatVector x3 = FloatVector.fromArray(F, v, row + 3 * L);
      FloatVector p0 = FloatVector.broadcast(F, p[pOff + t]);
      FloatVector q0 = FloatVector.broadcast(F, p[stride + pOff + t]);
      a0 = x0.fma(p0, a0);
      a1 = x1.fma(p0, a1);
      a2 = x2.fma(p0, a2);
      a3 = x3.fma(p0, a3);
      b0 = x0.fma(q0, b0);
      b1 = x1.fma(q0, b1);
      b2 = x2.fma(q0, b2);
      b3 = x3.fma(q0, b3);
    }
    a0.intoArray(out, o0);
    a1.intoArray(out, o0 + L);
    a2.intoArray(out, o0 + 2 * L);
    a3.intoArray(out, o0 + 3 * L);
    b0.intoArray(out, o1);
    b1.intoArray(out, o1 + L);
    b2.intoArray(out, o1 + 2 * L);
    b3.intoArray(out, o1 + 3 * L);
  }

  /**
   * {@link #scores} over a bfloat16 K block ({@code [d, L]} ints from {@code kBase}, the {@link
   * KvPool} bf16 layout): each int holds position t (low half) and t + L (high half), so one load
   * widens to the same two vectors of positions, with the same multiply-adds in the same order.
   */
  static void scoresBf16(
      float[] q, int qOff, int heads, int d, int[] k, int kBase, float[] s, int sOff, int stride) {
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, a1 = z, b0 = z, b1 = z;
    if (heads == 2) {
      for (int i = 0; i < d; i++) {
        IntVector kv = IntVector.fromArray(I, k, kBase + i * L);
        FloatVector k0 = kv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector k1 = kv.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector q0 = FloatVector.broadcast(F, q[qOff + i]);
        FloatVector q1 = FloatVector.broadcast(F, q[qOff + d + i]);
        a0 = k0.fma(q0, a0);
        a1 = k1.fma(q0, a1);
        b0 = k0.fma(q1, b0);
        b1 = k1.fma(q1, b1);
      }
      b0.intoArray(s, stride + sOff);
      b1.intoArray(s, stride + sOff + L);
    } else {
      for (int i = 0; i < d; i++) {
        IntVector kv = IntVector.fromArray(I, k, kBase + i * L);
        FloatVector q0 = FloatVector.broadcast(F, q[qOff + i]);
        a0 = kv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(q0, a0);
        a1 = kv.and(0xFFFF0000).reinterpretAsFloats().fma(q0, a1);
      }
    }
    a0.intoArray(s, sOff);
    a1.intoArray(s, sOff + L);
  }

  /**
   * {@link #scoresBf16} for two heads over four K blocks side by side ({@code k0..k3}, each from
   * {@code kBase}; block j's scores at {@code sOff + 2jL}): each score keeps its chain, and sixteen
   * independent chains instead of four keep more of the blocks' reads in flight. A block is 8 KB
   * per head (Qwen3-0.6B), too short for one chain of loads to reach memory speed: the scores of 8
   * rows at 160 positions, all 28 layers, took 3.1-4.2 ms against 5.3-5.7 one block at a time (2
   * threads, 2.6 GHz Xeon, 2026-12-04; a plain read of the same K took about 2.7 ms).
   *
   * <p>On the way it reads one int every L (64 bytes with 512-bit vectors) of the same head's part
   * of the four V blocks ({@code L·d} ints from {@code vBase}), and returns their sum, which the
   * caller must keep: the weighted V sum that follows then finds them in cache. Its own loop reads
   * a block's 8 KB in strided passes with few reads in flight; here they ride along with the K
   * reads. Whole attention, separate JVMs alternating: 8 rows at 160 positions 0.95x the time, one
   * row at 1,024 positions 0.88x; full 8-row decode steps at 400 positions 125-138 ms against
   * 137-140.
   */
  static int scoresBf16Blocks4(
      float[] q,
      int qOff,
      int d,
      int[] k0,
      int[] k1,
      int[] k2,
      int[] k3,
      int kBase,
      int[] v0,
      int[] v1,
      int[] v2,
      int[] v3,
      int vBase,
      float[] s,
      int sOff,
      int stride) {
    int touched = 0;
    FloatVector z = FloatVector.zero(F);
    FloatVector a0 = z, a1 = z, b0 = z, b1 = z, c0 = z, c1 = z, e0 = z, e1 = z;
    FloatVector f0 = z, f1 = z, g0 = z, g1 = z, h0 = z, h1 = z, m0 = z, m1 = z;
    for (int i = 0; i < d; i++) {
      int at = kBase + i * L;
      FloatVector q0 = FloatVector.broadcast(F, q[qOff + i]);
      FloatVector q1 = FloatVector.broadcast(F, q[qOff + d + i]);
      IntVector v = IntVector.fromArray(I, k0, at);
      FloatVector lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector hi = v.and(0xFFFF0000).reinterpretAsFloats();
      a0 = lo.fma(q0, a0);
      a1 = hi.fma(q0, a1);
      f0 = lo.fma(q1, f0);
      f1 = hi.fma(q1, f1);
      v = IntVector.fromArray(I, k1, at);
      lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      hi = v.and(0xFFFF0000).reinterpretAsFloats();
      b0 = lo.fma(q0, b0);
      b1 = hi.fma(q0, b1);
      g0 = lo.fma(q1, g0);
      g1 = hi.fma(q1, g1);
      v = IntVector.fromArray(I, k2, at);
      lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      hi = v.and(0xFFFF0000).reinterpretAsFloats();
      c0 = lo.fma(q0, c0);
      c1 = hi.fma(q0, c1);
      h0 = lo.fma(q1, h0);
      h1 = hi.fma(q1, h1);
      v = IntVector.fromArray(I, k3, at);
      lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      hi = v.and(0xFFFF0000).reinterpretAsFloats();
      e0 = lo.fma(q0, e0);
      e1 = hi.fma(q0, e1);
      m0 = lo.fma(q1, m0);
      m1 = hi.fma(q1, m1);
      int at2 = vBase + i * L;
      touched += v0[at2] + v1[at2] + v2[at2] + v3[at2];
    }
    int t = 2 * L; // positions per block
    a0.intoArray(s, sOff);
    a1.intoArray(s, sOff + L);
    b0.intoArray(s, sOff + t);
    b1.intoArray(s, sOff + t + L);
    c0.intoArray(s, sOff + 2 * t);
    c1.intoArray(s, sOff + 2 * t + L);
    e0.intoArray(s, sOff + 3 * t);
    e1.intoArray(s, sOff + 3 * t + L);
    f0.intoArray(s, stride + sOff);
    f1.intoArray(s, stride + sOff + L);
    g0.intoArray(s, stride + sOff + t);
    g1.intoArray(s, stride + sOff + t + L);
    h0.intoArray(s, stride + sOff + 2 * t);
    h1.intoArray(s, stride + sOff + 2 * t + L);
    m0.intoArray(s, stride + sOff + 3 * t);
    m1.intoArray(s, stride + sOff + 3 * t + L);
    return touched;
  }

  /**
   * {@link #weighted} over a bfloat16 V block ({@code [L, d]} ints from {@code vBase}): int row t
   * holds positions t (low halves) and t + L (high halves), so rows t and t + L of the block are
   * added one after the other. Two heads take four column chunks per pass over the rows ({@link
   * #weightedBf16Four}); the chunks left over, and one head, one chunk per pass.
   */
  static void weightedBf16(
      float[] p,
      int pOff,
      int stride,
      int heads,
      int count,
      int[] v,
      int vBase,
      int d,
      float[] out,
      int outOff) {
    int o1 = outOff + d;
    int lo = Math.min(count, L);
    int c = 0;
    if (heads == 2) {
      for (; c + 4 * L <= d; c += 4 * L)
        weightedBf16Four(p, pOff, stride, count, v, vBase + c, d, out, outOff + c, o1 + c);
    }
    for (; c < d; c += L) {
      FloatVector acc0 = FloatVector.fromArray(F, out, outOff + c);
      FloatVector acc1 = heads == 2 ? FloatVector.fromArray(F, out, o1 + c) : acc0;
      for (int t = 0; t < lo; t++) {
        IntVector iv = IntVector.fromArray(I, v, vBase + t * d + c);
        FloatVector v0 = iv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        acc0 = v0.fma(FloatVector.broadcast(F, p[pOff + t]), acc0);
        if (heads == 2) acc1 = v0.fma(FloatVector.broadcast(F, p[stride + pOff + t]), acc1);
        if (t + L < count) {
          FloatVector v1 = iv.and(0xFFFF0000).reinterpretAsFloats();
          acc0 = v1.fma(FloatVector.broadcast(F, p[pOff + t + L]), acc0);
          if (heads == 2) acc1 = v1.fma(FloatVector.broadcast(F, p[stride + pOff + t + L]), acc1);
        }
      }
      if (heads == 2) acc1.intoArray(out, o1 + c);
      acc0.intoArray(out, outOff + c);
    }
  }

  /**
   * Four column chunks of two heads' outputs ({@code out[o0, o0 + 4L)} and {@code out[o1, o1 +
   * 4L)}) from the V columns at {@code vc} (row t at {@code vc + t·d}): eight accumulators, each
   * the same chain of multiply-adds, in the same order, as {@link #weightedBf16}'s one-chunk loop,
   * so the bits are the same. One pass reads the block's rows in memory order, where one chunk per
   * pass strides over them eight times for a 128-wide head: attention at a 1,000-token context took
   * 0.53× the time (one thread, the V side 3× faster).
   */
  private static void weightedBf16Four(
      float[] p,
      int pOff,
      int stride,
      int count,
      int[] v,
      int vc,
      int d,
      float[] out,
      int o0,
      int o1) {
    int lo = Math.min(count, L);
    FloatVector a0 = FloatVector.fromArray(F, out, o0);
    FloatVector a1 = FloatVector.fromArray(F, out, o0 + L);
    FloatVector a2 = FloatVector.fromArray(F, out, o0 + 2 * L);
    FloatVector a3 = FloatVector.fromArray(F, out, o0 + 3 * L);
    FloatVector b0 = FloatVector.fromArray(F, out, o1);
    FloatVector b1 = FloatVector.fromArray(F, out, o1 + L);
    FloatVector b2 = FloatVector.fromArray(F, out, o1 + 2 * L);
    FloatVector b3 = FloatVector.fromArray(F, out, o1 + 3 * L);
    for (int t = 0; t < lo; t++) {
      int row = vc + t * d;
      IntVector i0 = IntVector.fromArray(I, v, row);
      IntVector i1 = IntVector.fromArray(I, v, row + L);
      IntVector i2 = IntVector.fromArray(I, v, row + 2 * L);
      IntVector i3 = IntVector.fromArray(I, v, row + 3 * L);
      FloatVector p0 = FloatVector.broadcast(F, p[pOff + t]);
      FloatVector q0 = FloatVector.broadcast(F, p[stride + pOff + t]);
      FloatVector x0 = i0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector x1 = i1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector x2 = i2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector x3 = i3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      a0 = x0.fma(p0, a0);
      a1 = x1.fma(p0, a1);
      a2 = x2.fma(p0, a2);
      a3 = x3.fma(p0, a3);
      b0 = x0.fma(q0, b0);
      b1 = x1.fma(q0, b1);
      b2 = x2.fma(q0, b2);
      b3 = x3.fma(q0, b3);
      if (t + L < count) {
        FloatVector p1 = FloatVector.broadcast(F, p[pOff + t + L]);
        FloatVector q1 = FloatVector.broadcast(F, p[stride + pOff + t + L]);
        FloatVector y0 = i0.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector y1 = i1.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector y2 = i2.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector y3 = i3.and(0xFFFF0000).reinterpretAsFloats();
        a0 = y0.fma(p1, a0);
        a1 = y1.fma(p1, a1);
        a2 = y2.fma(p1, a2);
        a3 = y3.fma(p1, a3);
        b0 = y0.fma(q1, b0);
        b1 = y1.fma(q1, b1);
        b2 = y2.fma(q1, b2);
        b3 = y3.fma(q1, b3);
      }
    }
    a0.intoArray(out, o0);
    a1.intoArray(out, o0 + L);
    a2.intoArray(out, o0 + 2 * L);
    a3.intoArray(out, o0 + 3 * L);
    b0.intoArray(out, o1);
    b1.intoArray(out, o1 + L);
    b2.intoArray(out, o1 + 2 * L);
    b3.intoArray(out, o1 + 3 * L);
  }
}
