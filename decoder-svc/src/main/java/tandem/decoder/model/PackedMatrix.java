package tandem.decoder.model;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import tandem.common.tensor.HalfFloats;

/**
 * A weight matrix {@code [rows, cols]} (HF Linear: row j holds the weights of output j) held in one
 * Java array in one of the {@link WeightFormat}s, and the matrix product the CPU decoder needs:
 * {@code y[r, j] = Σ_k W[j, k]·x[r, k]}. Kernels load with {@code fromArray} only: the one Vector
 * API load form common to JDK 17 through 25.
 *
 * <p><b>Layout: output panels.</b> The rows are cut into panels of {@link #P} = 2·L outputs (L
 * float lanes). A panel stores its weights column by column: for each k, the P weights {@code W[pP
 * + i, k]}, i < P, side by side. A kernel streams one panel from start to end and keeps one vector
 * accumulator per (L outputs, input row): at each k it widens the P weights to two float vectors,
 * broadcasts {@code x[r, k]} and adds their product. So each output is one chain of fused
 * multiply-adds over k in order, with no lane sums, the same chain whatever the number of input
 * rows and threads: batching never changes a row's result (bit for bit).
 *
 * <p>With one input row a thread streams four panels side by side ({@link #onePanels4}): eight
 * independent chains, where one panel's two chains waited on the multiply-add latency at every
 * column and kept too few weight reads in flight (on a 2.6 GHz Xeon the one-row bf16 decode ran at
 * 1.6x the time of a plain read of its weights, at 1.13-1.24x with four panels). With several, the
 * two widened vectors feed up to eight rows (16 multiply-adds a k). Such a loop carries too many
 * instructions per cache line for the out-of-order window to keep enough memory reads in flight, so
 * no kernel with eight rows reads from memory:
 *
 * <ul>
 *   <li>Where the groups are eight rows (512-bit vectors), bf16 and f32 take panels in pairs: the
 *       first four rows stream a pair from memory ({@link #fourPanels2}: two weight loads feed 16
 *       multiply-adds a k, few enough instructions per line to read at memory speed), and the
 *       block's other rows then read the pair from cache. The four rows' multiply-adds are thus
 *       done while the weights arrive, not after: 8-row matrix products 72 ms against 87 ms (all
 *       Qwen3-0.6B matrices, 2 threads, 2.6 GHz Xeon; a plain read of them took 34 ms).
 *   <li>Otherwise each panel is read into cache first ({@link #fetch}), then multiplied: q8_0 (see
 *       {@link Q8#pairs}), four-row groups (AVX2), and a band's panels left over from pairs.
 * </ul>
 *
 * <p>The bf16 and q8_0 one-row kernels are unrolled four columns a loop by hand (the same chain, in
 * the same order): JDK 17 compiled the plain loop with enough instructions per cache line that the
 * out-of-order window kept too few weight reads in flight. One JVM, alternating: a bf16 panel
 * stream on two threads 0.80x and 0.76x the time on JDK 17, 0.86x on JDK 25; the full one-row bf16
 * decode step 0.87x, q8_0 0.97x (within the noise).
 *
 * <p>Each format writes its kernels out in full, the same multiply-add block around its own
 * widening: on JDK 17 a vector passed to a helper or held across an inner loop is boxed (a helper
 * that stored the accumulators made the 8-row decode step 7.7x slower; a q8_0 loop nested per
 * block, 12x).
 *
 * <p>{@code rows} must be a multiple of 4 and {@code cols} of {@link #COL_ALIGN} (every Qwen3 size
 * is). A last panel that is only partly used is padded with zeros; its outputs go through a scratch
 * so that no padding output is ever written.
 */
abstract sealed class PackedMatrix permits PackedMatrix.F32, PackedMatrix.Bf16, PackedMatrix.Q8 {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

  /** As many byte lanes as F has float lanes (128-bit bytes for 512-bit floats). */
  static final VectorSpecies<Byte> B =
      VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));

  static final int L = F.length();

  /** Outputs per panel: two float vectors. */
  static final int P = 2 * L;

  /** Columns are a multiple of this: the 32 of a Q8_0 block. */
  static final int COL_ALIGN = 32;

  /**
   * Per worker thread: the outputs of a partly used last panel (8 rows of P), or of a pair of
   * panels when {@link #multiplyInCache} writes nothing (8 rows of 2P); and at {@link #SINK} the
   * sum the prefetch reads add to.
   */
  private static final ThreadLocal<float[]> PART =
      ThreadLocal.withInitial(() -> new float[16 * P + 1]);

  private static final int SINK = 16 * P;

  /** Per calling thread: input rows interleaved for the multi-row kernels ({@link #interleave}). */
  private static final ThreadLocal<float[]> XT = ThreadLocal.withInitial(() -> new float[0]);

  /**
   * Input rows multiplied against the weights per pass: the weights are read once per block, and
   * the block of x (128 × 3072 floats at most for Qwen3-0.6B: 1.5 MB) stays in L2 and L3 while
   * every panel streams past it. 128 rather than 64: a 128-token prefill then reads the weights
   * once, not twice (0.95× its time; 512 tokens 0.97×, one JVM alternating builds); 512 was barely
   * faster (0.94×, 0.96×) and its 6 MB block would spill the caches of smaller hosts.
   */
  private static final int ROW_BLOCK = 128;

  /**
   * Input rows per kernel call when there are several: eight (16 accumulators) where the vector
   * registers are 512 bits, so AVX-512's 32 registers hold them; four (8 accumulators) otherwise:
   * AVX2 has 16 registers, and the eight-row kernel spilled there (this host run with -XX:UseAVX=2,
   * full-size 8-row decode steps, one JVM alternating: four rows a call took 0.71x the time of
   * eight).
   */
  static final int GROUP = F.vectorBitSize() >= 512 ? 8 : 4;

  final int rows;
  final int cols;
  final int panels;

  PackedMatrix(int rows, int cols) {
    if (!fits(rows, cols)) {
      throw new IllegalArgumentException(
          "packed matrix ["
              + rows
              + ", "
              + cols
              + "] needs rows % 4 == 0, cols % "
              + COL_ALIGN
              + " == 0 and fewer than 2^31 padded elements");
    }
    this.rows = rows;
    this.cols = cols;
    this.panels = (rows + P - 1) / P;
  }

  /** Whether a [rows, cols] matrix fits the kernels (and one Java array). */
  static boolean fits(long rows, long cols) {
    long padded = (rows + P - 1) / P * P;
    return rows > 0
        && cols > 0
        && rows % 4 == 0
        && cols % COL_ALIGN == 0
        && padded * cols <= Integer.MAX_VALUE - 64;
  }

  abstract WeightFormat format();

  /** Bytes this matrix holds, the zero padding of a partly used last panel included. */
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
   * {@code y[r·rows + j] = Σ_k W[j, k]·x[r·cols + k]} for r < n, j < rows. x and y are allocated
   * for {@link Kernels#paddedRows}(n) rows (their padding rows hold garbage after the call). Runs
   * on {@code pool}, each task on a contiguous band of panels.
   */
  final void matmul(float[] x, int n, float[] y, IntraOpPool pool) {
    matmul(x, n, y, pool, GROUP);
  }

  /** {@link #matmul} with {@code group} (4 or 8) input rows per kernel call: tests run both. */
  final void matmul(float[] x, int n, float[] y, IntraOpPool pool, int group) {
    run(x, n, y, pool, group, false);
  }

  /**
   * The multiply-adds of {@link #matmul} without its memory reads, for the bench: each task runs
   * the kernels over its first panel again and again, one call per panel it would have streamed, so
   * the weights stay in cache. Writes nothing to y. With the read of the same arrays timed beside
   * it, this splits a multi-row step into what it reads and what it computes.
   */
  final void multiplyInCache(float[] x, int n, IntraOpPool pool) {
    run(x, n, null, pool, GROUP, true);
  }

  private void run(float[] x, int n, float[] y, IntraOpPool pool, int group, boolean inCache) {
    int padded = Kernels.paddedRows(n);
    if (x.length < (long) padded * cols || !inCache && y.length < (long) padded * rows) {
      throw new IllegalArgumentException("matmul buffers must hold " + padded + " padded rows");
    }
    int perTask = Math.max(1, (panels + pool.threads() * 4 - 1) / (pool.threads() * 4));
    int tasks = (panels + perTask - 1) / perTask;
    float[] xt = n == 1 ? x : interleaved(Math.min(padded, ROW_BLOCK));
    for (int r0 = 0; r0 < padded; r0 += ROW_BLOCK) {
      int rBlock = r0;
      int rEnd = Math.min(padded, r0 + ROW_BLOCK);
      if (n > 1) interleave(x, rBlock, rEnd, group, xt);
      pool.parallelFor(
          tasks,
          t -> {
            float[] part = PART.get();
            int p1 = Math.min(panels, (t + 1) * perTask);
            int fetched = -1; // the panel the one-at-a-time path read ahead
            for (int p = t * perTask; p < p1; p++) {
              int w = inCache ? t * perTask : p; // the weight panel
              int used = inCache ? 0 : Math.min(P, rows - p * P); // outputs kept (none in cache)
              if (n == 1) {
                if (!inCache && p + 3 < p1 && (p + 4) * P <= rows) {
                  onePanels4(p, x, y, p * P);
                  p += 3;
                  continue;
                }
                if (used == P) {
                  one(w, x, y, p * P);
                } else {
                  one(w, x, part, 0);
                  if (used > 0) System.arraycopy(part, 0, y, p * P, used);
                }
                continue;
              }
              if (group == 8
                  && pairs()
                  && p + 1 < p1
                  && w + 1 < panels
                  && (inCache || (p + 2) * P <= rows)) {
                // a pair of panels: its first four rows stream both from memory, the block's
                // other rows then read them from cache
                float[] out = inCache ? part : y;
                int stride = inCache ? 2 * P : rows;
                for (int r = rBlock; r < rEnd; ) {
                  int g = groupAt(group, r, rBlock, rEnd);
                  int xOff = (r - rBlock) * cols;
                  int yOff = inCache ? 0 : r * rows + p * P;
                  if (g == 8) {
                    eight(w, xt, xOff, out, yOff, stride);
                    eight(w + 1, xt, xOff, out, yOff + P, stride);
                  } else {
                    fourPanels2(w, xt, xOff, out, yOff, stride);
                  }
                  r += g;
                }
                p++;
                continue;
              }
              // one panel at a time: each is read into cache while the one before is multiplied
              if (!inCache && fetched != p) part[SINK] += fetch(p);
              if (!inCache && p + 1 < p1) {
                part[SINK] += fetch(p + 1);
                fetched = p + 1;
              }
              for (int r = rBlock; r < rEnd; ) {
                int g = groupAt(group, r, rBlock, rEnd);
                if (used == P) {
                  group(g, w, xt, (r - rBlock) * cols, y, r * rows + p * P, rows);
                } else {
                  group(g, w, xt, (r - rBlock) * cols, part, 0, P);
                  for (int i = 0; i < g && used > 0; i++)
                    System.arraycopy(part, i * P, y, (r + i) * rows + p * P, used);
                }
                r += g;
              }
            }
          });
    }
  }

  /**
   * Input rows per kernel call at row r of a block [r0, rEnd) (rEnd - r: a multiple of 4): four or
   * eight as {@code group} says, except that where panels go in {@link #pairs} the block's first
   * group is four (the rows that stream the pair from memory).
   */
  private int groupAt(int group, int r, int r0, int rEnd) {
    return group == 8 && (r > r0 || !pairs()) && rEnd - r >= 8 ? 8 : 4;
  }

  /**
   * The calling thread's buffer for one block of interleaved input rows, {@code n·cols} at least.
   */
  private float[] interleaved(int n) {
    float[] b = XT.get();
    if (b.length < n * cols) {
      b = new float[n * cols];
      XT.set(b);
    }
    return b;
  }

  /**
   * Input rows [r0, rEnd) of x into xt group by group, as the kernels read them: the g rows of the
   * group from row r hold row r+i's column k at xt[(r - r0)·cols + k·g + i]. At each k a kernel's g
   * broadcasts then read adjacent floats, one index instead of g: in cache, the eight-row bf16
   * kernel ran 14–26 % faster that way (two threads, panels of 1024 and 3072 columns).
   */
  private void interleave(float[] x, int r0, int rEnd, int group, float[] xt) {
    for (int r = r0; r < rEnd; ) {
      int g = groupAt(group, r, r0, rEnd);
      int base = (r - r0) * cols;
      for (int i = 0; i < g; i++) {
        int src = (r + i) * cols;
        for (int k = 0; k < cols; k++) xt[base + k * g + i] = x[src + k];
      }
      r += g;
    }
  }

  private void group(int g, int p, float[] x, int xOff, float[] y, int yOff, int stride) {
    if (g == 8) {
      eight(p, x, xOff, y, yOff, stride);
    } else {
      four(p, x, xOff, y, yOff, stride);
    }
  }

  /** Panel p against input row 0 of x: its P outputs into y[yOff, yOff + P). */
  abstract void one(int p, float[] x, float[] y, int yOff);

  /**
   * Panels p to p + 3 against input row 0 of x: their 4P outputs into y[yOff, yOff + 4P), each
   * output by exactly the chain {@link #one} runs, the four panels streamed side by side: one
   * panel's two chains wait on the multiply-add latency at every column, eight independent chains
   * do not, and the loop then keeps more weight reads in flight.
   */
  abstract void onePanels4(int p, float[] x, float[] y, int yOff);

  /**
   * Panel p against four input rows interleaved from x[xOff] (row i's column k at x[xOff + 4k + i],
   * see {@link #interleave}): row i's P outputs into y[yOff + i·stride …].
   */
  abstract void four(int p, float[] x, int xOff, float[] y, int yOff, int stride);

  /** As {@link #four}, eight input rows (row i's column k at x[xOff + 8k + i]). */
  abstract void eight(int p, float[] x, int xOff, float[] y, int yOff, int stride);

  /**
   * Whether several input rows go through panels in pairs ({@link #fourPanels2} first), rather than
   * one panel at a time, each read into cache by {@link #fetch} first. See {@link #run}.
   */
  boolean pairs() {
    return true;
  }

  /**
   * As {@link #four} over panels p and p + 1 side by side (panel p + 1's outputs at {@code y[yOff +
   * P + i·stride …]}): each output keeps the chain {@link #one} runs. Used only where {@link
   * #pairs}.
   */
  void fourPanels2(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
    throw new UnsupportedOperationException(format() + " goes through one panel at a time");
  }

  /**
   * One element of every 64-byte line of panel p, summed (the caller keeps the sum, so the loads
   * stay): brings the panel into cache, with as many reads in flight as the core allows.
   */
  abstract int fetch(int p);

  /**
   * Sums every element once (a read of the whole array at memory speed: the decode floor's
   * yardstick).
   */
  abstract float touch(int band, int bands);

  // ---------------------------------------------------------------------------------------------------------------

  /** float32: panel p's weight (k, i) at {@code w[(p·cols + k)·P + i]}. */
  static final class F32 extends PackedMatrix {
    final float[] w;

    F32(int rows, int cols) {
      super(rows, cols);
      this.w = new float[panels * cols * P];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.F32;
    }

    @Override
    long bytes() {
      return 4L * w.length;
    }

    private int at(int r, int k) {
      return ((r / P) * cols + k) * P + r % P;
    }

    @Override
    void row(int r, float[] dst, int off) {
      int base = at(r, 0);
      for (int k = 0; k < cols; k++) dst[off + k] = w[base + k * P];
    }

    @Override
    void setRow(int r, float[] src) {
      int base = at(r, 0);
      for (int k = 0; k < cols; k++) w[base + k * P] = src[k];
    }

    /** Not unrolled, unlike the others: four columns a loop measured 1.08x the one-row f32 step. */
    @Override
    void one(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * P;
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0;
      for (int k = 0; k < cols; k++) {
        FloatVector xb = FloatVector.broadcast(F, x[k]);
        a0 = FloatVector.fromArray(F, w, o + k * P).fma(xb, a0);
        a1 = FloatVector.fromArray(F, w, o + k * P + L).fma(xb, a1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
    }

    @Override
    void onePanels4(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * P;
      int q = o + cols * P;
      int r = q + cols * P;
      int t = r + cols * P;
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
      for (int k = 0; k < cols; k++) {
        int i = k * P;
        FloatVector xb = FloatVector.broadcast(F, x[k]);
        a0 = FloatVector.fromArray(F, w, o + i).fma(xb, a0);
        a1 = FloatVector.fromArray(F, w, o + i + L).fma(xb, a1);
        b0 = FloatVector.fromArray(F, w, q + i).fma(xb, b0);
        b1 = FloatVector.fromArray(F, w, q + i + L).fma(xb, b1);
        c0 = FloatVector.fromArray(F, w, r + i).fma(xb, c0);
        c1 = FloatVector.fromArray(F, w, r + i + L).fma(xb, c1);
        d0 = FloatVector.fromArray(F, w, t + i).fma(xb, d0);
        d1 = FloatVector.fromArray(F, w, t + i + L).fma(xb, d1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
      b0.intoArray(y, yOff + P);
      b1.intoArray(y, yOff + P + L);
      c0.intoArray(y, yOff + 2 * P);
      c1.intoArray(y, yOff + 2 * P + L);
      d0.intoArray(y, yOff + 3 * P);
      d1.intoArray(y, yOff + 3 * P + L);
    }

    @Override
    void four(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * P;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z;
      for (int k = 0; k < c; k++) {
        FloatVector lo = FloatVector.fromArray(F, w, o + k * P);
        FloatVector hi = FloatVector.fromArray(F, w, o + k * P + L);
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 4 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 4 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 4 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 4 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
    }

    @Override
    void eight(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * P;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z, b4 = z, b5 = z, b6 = z, b7 = z;
      for (int k = 0; k < c; k++) {
        FloatVector lo = FloatVector.fromArray(F, w, o + k * P);
        FloatVector hi = FloatVector.fromArray(F, w, o + k * P + L);
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 8 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 8 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 8 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 8 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
        FloatVector x4 = FloatVector.broadcast(F, x[xOff + 8 * k + 4]);
        a4 = lo.fma(x4, a4);
        b4 = hi.fma(x4, b4);
        FloatVector x5 = FloatVector.broadcast(F, x[xOff + 8 * k + 5]);
        a5 = lo.fma(x5, a5);
        b5 = hi.fma(x5, b5);
        FloatVector x6 = FloatVector.broadcast(F, x[xOff + 8 * k + 6]);
        a6 = lo.fma(x6, a6);
        b6 = hi.fma(x6, b6);
        FloatVector x7 = FloatVector.broadcast(F, x[xOff + 8 * k + 7]);
        a7 = lo.fma(x7, a7);
        b7 = hi.fma(x7, b7);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
      a4.intoArray(y, yOff + 4 * stride);
      b4.intoArray(y, yOff + 4 * stride + L);
      a5.intoArray(y, yOff + 5 * stride);
      b5.intoArray(y, yOff + 5 * stride + L);
      a6.intoArray(y, yOff + 6 * stride);
      b6.intoArray(y, yOff + 6 * stride + L);
      a7.intoArray(y, yOff + 7 * stride);
      b7.intoArray(y, yOff + 7 * stride + L);
    }

    @Override
    void fourPanels2(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * P;
      int q = o + cols * P;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
      FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
      for (int k = 0; k < cols; k += 2) { // as Bf16.fourPanels2: two columns a loop
        int i = k * P;
        int xi = xOff + 4 * k;
        FloatVector l = FloatVector.fromArray(F, w, o + i);
        FloatVector h = FloatVector.fromArray(F, w, o + i + L);
        FloatVector m = FloatVector.fromArray(F, w, q + i);
        FloatVector n = FloatVector.fromArray(F, w, q + i + L);
        FloatVector x0 = FloatVector.broadcast(F, x[xi]);
        a0 = l.fma(x0, a0);
        b0 = h.fma(x0, b0);
        c0 = m.fma(x0, c0);
        d0 = n.fma(x0, d0);
        FloatVector x1 = FloatVector.broadcast(F, x[xi + 1]);
        a1 = l.fma(x1, a1);
        b1 = h.fma(x1, b1);
        c1 = m.fma(x1, c1);
        d1 = n.fma(x1, d1);
        FloatVector x2 = FloatVector.broadcast(F, x[xi + 2]);
        a2 = l.fma(x2, a2);
        b2 = h.fma(x2, b2);
        c2 = m.fma(x2, c2);
        d2 = n.fma(x2, d2);
        FloatVector x3 = FloatVector.broadcast(F, x[xi + 3]);
        a3 = l.fma(x3, a3);
        b3 = h.fma(x3, b3);
        c3 = m.fma(x3, c3);
        d3 = n.fma(x3, d3);
        l = FloatVector.fromArray(F, w, o + i + P); // column k + 1
        h = FloatVector.fromArray(F, w, o + i + P + L);
        m = FloatVector.fromArray(F, w, q + i + P);
        n = FloatVector.fromArray(F, w, q + i + P + L);
        x0 = FloatVector.broadcast(F, x[xi + 4]);
        a0 = l.fma(x0, a0);
        b0 = h.fma(x0, b0);
        c0 = m.fma(x0, c0);
        d0 = n.fma(x0, d0);
        x1 = FloatVector.broadcast(F, x[xi + 5]);
        a1 = l.fma(x1, a1);
        b1 = h.fma(x1, b1);
        c1 = m.fma(x1, c1);
        d1 = n.fma(x1, d1);
        x2 = FloatVector.broadcast(F, x[xi + 6]);
        a2 = l.fma(x2, a2);
        b2 = h.fma(x2, b2);
        c2 = m.fma(x2, c2);
        d2 = n.fma(x2, d2);
        x3 = FloatVector.broadcast(F, x[xi + 7]);
        a3 = l.fma(x3, a3);
        b3 = h.fma(x3, b3);
        c3 = m.fma(x3, c3);
        d3 = n.fma(x3, d3);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      c0.intoArray(y, yOff + P);
      d0.intoArray(y, yOff + P + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      c1.intoArray(y, yOff + stride + P);
      d1.intoArray(y, yOff + stride + P + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      c2.intoArray(y, yOff + 2 * stride + P);
      d2.intoArray(y, yOff + 2 * stride + P + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
      c3.intoArray(y, yOff + 3 * stride + P);
      d3.intoArray(y, yOff + 3 * stride + P + L);
    }

    @Override
    int fetch(int p) {
      float t = 0;
      int o = p * cols * P;
      for (int i = o; i < o + cols * P; i += 16) t += w[i];
      return (int) t;
    }

    @Override
    float touch(int band, int bands) {
      int per = (w.length / L + bands - 1) / bands * L;
      int from = Math.min(w.length, band * per);
      int to = Math.min(w.length, from + per);
      FloatVector acc = FloatVector.zero(F);
      for (int k = from; k < to; k += L) acc = FloatVector.fromArray(F, w, k).add(acc);
      return acc.reduceLanes(VectorOperators.ADD);
    }
  }

  /**
   * bfloat16, two to an int: panel p's int (k, i), i < L, at {@code w[(p·cols + k)·L + i]} holds
   * {@code W[pP + i, k]} in its low half and {@code W[pP + L + i, k]} in its high half. A bf16
   * value is the top half of a float32, so the int vector widens to the panel's two float vectors
   * with one shift ({@code << 16}) and one mask ({@code & 0xFFFF0000}): no lane conversion.
   */
  static final class Bf16 extends PackedMatrix {
    final int[] w;

    Bf16(int rows, int cols) {
      super(rows, cols);
      this.w = new int[panels * cols * L];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.BF16;
    }

    @Override
    long bytes() {
      return 4L * w.length;
    }

    private int at(int r, int k) {
      return ((r / P) * cols + k) * L + r % L;
    }

    @Override
    void row(int r, float[] dst, int off) {
      int base = at(r, 0);
      boolean high = r % P >= L;
      for (int k = 0; k < cols; k++) {
        int v = w[base + k * L];
        dst[off + k] = Float.intBitsToFloat(high ? v & 0xFFFF0000 : v << 16);
      }
    }

    @Override
    void setRow(int r, float[] src) {
      int base = at(r, 0);
      boolean high = r % P >= L;
      for (int k = 0; k < cols; k++) {
        int b = tandem.common.checkpoint.Bf16.fromFloat(src[k]) & 0xFFFF;
        int i = base + k * L;
        w[i] = high ? (w[i] & 0xFFFF) | (b << 16) : (w[i] & 0xFFFF0000) | b;
      }
    }

    @Override
    void one(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * L;
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0;
      for (int k = 0; k < cols; k += 4) { // unrolled by hand: see the class comment
        int i = o + k * L;
        IntVector v0 = IntVector.fromArray(I, w, i);
        IntVector v1 = IntVector.fromArray(I, w, i + L);
        IntVector v2 = IntVector.fromArray(I, w, i + 2 * L);
        IntVector v3 = IntVector.fromArray(I, w, i + 3 * L);
        FloatVector x0 = FloatVector.broadcast(F, x[k]);
        a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a0);
        a1 = v0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, a1);
        FloatVector x1 = FloatVector.broadcast(F, x[k + 1]);
        a0 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x1, a0);
        a1 = v1.and(0xFFFF0000).reinterpretAsFloats().fma(x1, a1);
        FloatVector x2 = FloatVector.broadcast(F, x[k + 2]);
        a0 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, a0);
        a1 = v2.and(0xFFFF0000).reinterpretAsFloats().fma(x2, a1);
        FloatVector x3 = FloatVector.broadcast(F, x[k + 3]);
        a0 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x3, a0);
        a1 = v3.and(0xFFFF0000).reinterpretAsFloats().fma(x3, a1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
    }

    @Override
    void onePanels4(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * L;
      int q = o + cols * L;
      int r = q + cols * L;
      int t = r + cols * L;
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
      for (int k = 0; k < cols; k++) {
        int i = k * L;
        IntVector v0 = IntVector.fromArray(I, w, o + i);
        IntVector u0 = IntVector.fromArray(I, w, q + i);
        IntVector s0 = IntVector.fromArray(I, w, r + i);
        IntVector t0 = IntVector.fromArray(I, w, t + i);
        FloatVector x0 = FloatVector.broadcast(F, x[k]);
        a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a0);
        a1 = v0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, a1);
        b0 = u0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, b0);
        b1 = u0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, b1);
        c0 = s0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, c0);
        c1 = s0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, c1);
        d0 = t0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, d0);
        d1 = t0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, d1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
      b0.intoArray(y, yOff + P);
      b1.intoArray(y, yOff + P + L);
      c0.intoArray(y, yOff + 2 * P);
      c1.intoArray(y, yOff + 2 * P + L);
      d0.intoArray(y, yOff + 3 * P);
      d1.intoArray(y, yOff + 3 * P + L);
    }

    @Override
    void four(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * L;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z;
      for (int k = 0; k < c; k++) {
        IntVector v = IntVector.fromArray(I, w, o + k * L);
        FloatVector lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector hi = v.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 4 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 4 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 4 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 4 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
    }

    @Override
    void eight(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * L;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z, b4 = z, b5 = z, b6 = z, b7 = z;
      for (int k = 0; k < c; k++) {
        IntVector v = IntVector.fromArray(I, w, o + k * L);
        FloatVector lo = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector hi = v.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 8 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 8 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 8 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 8 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
        FloatVector x4 = FloatVector.broadcast(F, x[xOff + 8 * k + 4]);
        a4 = lo.fma(x4, a4);
        b4 = hi.fma(x4, b4);
        FloatVector x5 = FloatVector.broadcast(F, x[xOff + 8 * k + 5]);
        a5 = lo.fma(x5, a5);
        b5 = hi.fma(x5, b5);
        FloatVector x6 = FloatVector.broadcast(F, x[xOff + 8 * k + 6]);
        a6 = lo.fma(x6, a6);
        b6 = hi.fma(x6, b6);
        FloatVector x7 = FloatVector.broadcast(F, x[xOff + 8 * k + 7]);
        a7 = lo.fma(x7, a7);
        b7 = hi.fma(x7, b7);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
      a4.intoArray(y, yOff + 4 * stride);
      b4.intoArray(y, yOff + 4 * stride + L);
      a5.intoArray(y, yOff + 5 * stride);
      b5.intoArray(y, yOff + 5 * stride + L);
      a6.intoArray(y, yOff + 6 * stride);
      b6.intoArray(y, yOff + 6 * stride + L);
      a7.intoArray(y, yOff + 7 * stride);
      b7.intoArray(y, yOff + 7 * stride + L);
    }

    /**
     * Two columns a loop, unrolled by hand (each accumulator's chain is unchanged): the loop's
     * index arithmetic and branch then run once per two columns. This class's kernel on one thread,
     * weights in cache, 8 rows (two calls a pair), builds alternating (2026-12-05): 3.97–4.05 →
     * 3.60–3.67 ns per panel and column at 1024 columns, 4.21–4.26 → 4.01–4.03 at 3072. Unrolled
     * four columns a loop, a copy of it spilled registers and ran slower than one column a loop.
     */
    @Override
    void fourPanels2(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * L;
      int q = o + cols * L;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
      FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
      for (int k = 0; k < cols; k += 2) { // cols is even (a multiple of COL_ALIGN)
        int i = k * L;
        int xi = xOff + 4 * k;
        IntVector v = IntVector.fromArray(I, w, o + i);
        IntVector u = IntVector.fromArray(I, w, q + i);
        FloatVector l = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector h = v.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector m = u.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector n = u.and(0xFFFF0000).reinterpretAsFloats();
        FloatVector x0 = FloatVector.broadcast(F, x[xi]);
        a0 = l.fma(x0, a0);
        b0 = h.fma(x0, b0);
        c0 = m.fma(x0, c0);
        d0 = n.fma(x0, d0);
        FloatVector x1 = FloatVector.broadcast(F, x[xi + 1]);
        a1 = l.fma(x1, a1);
        b1 = h.fma(x1, b1);
        c1 = m.fma(x1, c1);
        d1 = n.fma(x1, d1);
        FloatVector x2 = FloatVector.broadcast(F, x[xi + 2]);
        a2 = l.fma(x2, a2);
        b2 = h.fma(x2, b2);
        c2 = m.fma(x2, c2);
        d2 = n.fma(x2, d2);
        FloatVector x3 = FloatVector.broadcast(F, x[xi + 3]);
        a3 = l.fma(x3, a3);
        b3 = h.fma(x3, b3);
        c3 = m.fma(x3, c3);
        d3 = n.fma(x3, d3);
        v = IntVector.fromArray(I, w, o + i + L); // column k + 1
        u = IntVector.fromArray(I, w, q + i + L);
        l = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        h = v.and(0xFFFF0000).reinterpretAsFloats();
        m = u.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        n = u.and(0xFFFF0000).reinterpretAsFloats();
        x0 = FloatVector.broadcast(F, x[xi + 4]);
        a0 = l.fma(x0, a0);
        b0 = h.fma(x0, b0);
        c0 = m.fma(x0, c0);
        d0 = n.fma(x0, d0);
        x1 = FloatVector.broadcast(F, x[xi + 5]);
        a1 = l.fma(x1, a1);
        b1 = h.fma(x1, b1);
        c1 = m.fma(x1, c1);
        d1 = n.fma(x1, d1);
        x2 = FloatVector.broadcast(F, x[xi + 6]);
        a2 = l.fma(x2, a2);
        b2 = h.fma(x2, b2);
        c2 = m.fma(x2, c2);
        d2 = n.fma(x2, d2);
        x3 = FloatVector.broadcast(F, x[xi + 7]);
        a3 = l.fma(x3, a3);
        b3 = h.fma(x3, b3);
        c3 = m.fma(x3, c3);
        d3 = n.fma(x3, d3);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      c0.intoArray(y, yOff + P);
      d0.intoArray(y, yOff + P + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      c1.intoArray(y, yOff + stride + P);
      d1.intoArray(y, yOff + stride + P + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      c2.intoArray(y, yOff + 2 * stride + P);
      d2.intoArray(y, yOff + 2 * stride + P + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
      c3.intoArray(y, yOff + 3 * stride + P);
      d3.intoArray(y, yOff + 3 * stride + P + L);
    }

    @Override
    int fetch(int p) {
      int t = 0;
      int o = p * cols * L;
      for (int i = o; i < o + cols * L; i += 16) t += w[i];
      return t;
    }

    @Override
    float touch(int band, int bands) {
      int per = (w.length / L + bands - 1) / bands * L;
      int from = Math.min(w.length, band * per);
      int to = Math.min(w.length, from + per);
      IntVector acc = IntVector.zero(I);
      for (int k = from; k < to; k += L) acc = IntVector.fromArray(I, w, k).add(acc);
      return acc.reduceLanes(VectorOperators.ADD);
    }
  }

  /**
   * Q8_0 as llama.cpp defines it: each row is cut into blocks of 32 columns; a block keeps {@code d
   * = max|w| / 127} rounded to float16 and {@code q = round(w / d)} as int8 (w ≈ q·d). Panel p's
   * int8 (k, i) sits at {@code q[(p·cols + k)·P + i]} and the scale of its block b at {@code
   * d[(p·blocks + b)·P + i]}. Kernels widen the int8 lanes to float, scale them by d and accumulate
   * in float32 (llama.cpp also quantizes the activations to int8; this does not, so its error is at
   * most llama.cpp's). Each k reloads its block's scales (from L1) in one flat loop over k: JDK
   * 17's C2 boxes vectors held across an inner loop, and a nested loop over blocks ran 12x slower.
   */
  static final class Q8 extends PackedMatrix {
    static final int BLOCK = 32;
    final byte[] q;
    final float[] d;
    private final int blocks;

    Q8(int rows, int cols) {
      super(rows, cols);
      this.blocks = cols / BLOCK;
      this.q = new byte[panels * cols * P];
      this.d = new float[panels * blocks * P];
    }

    @Override
    WeightFormat format() {
      return WeightFormat.Q8_0;
    }

    @Override
    long bytes() {
      return q.length + 4L * d.length;
    }

    /**
     * No: at eight rows q8_0 is bound by its widening (int8 to float, times the block scale), not
     * by its reads, and a pair widens each weight twice, once per group of four rows (full-size
     * 8-row decode step 92-95 ms against 90.5 one panel at a time, 2026-12-04).
     */
    @Override
    boolean pairs() {
      return false;
    }

    /** Row r's int8 at column k. */
    byte quant(int r, int k) {
      return q[((r / P) * cols + k) * P + r % P];
    }

    /** Row r's scale for block b. */
    float scale(int r, int b) {
      return d[((r / P) * blocks + b) * P + r % P];
    }

    @Override
    void row(int r, float[] dst, int off) {
      for (int b = 0; b < blocks; b++) {
        float s = scale(r, b);
        for (int i = 0; i < BLOCK; i++) dst[off + b * BLOCK + i] = quant(r, b * BLOCK + i) * s;
      }
    }

    @Override
    void setRow(int r, float[] src) {
      int qBase = ((r / P) * cols) * P + r % P;
      int dBase = ((r / P) * blocks) * P + r % P;
      for (int b = 0; b < blocks; b++) {
        float amax = 0;
        for (int i = 0; i < BLOCK; i++) amax = Math.max(amax, Math.abs(src[b * BLOCK + i]));
        float scale = amax / 127f;
        float inv = scale != 0 ? 1f / scale : 0f;
        d[dBase + b * P] = HalfFloats.roundToF16(scale);
        for (int i = 0; i < BLOCK; i++) {
          int k = b * BLOCK + i;
          q[qBase + k * P] = (byte) Math.round(src[k] * inv);
        }
      }
    }

    @Override
    void onePanels4(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * P;
      int od = p * blocks * P;
      int c = cols;
      int pq = c * P; // from one panel to the next: bytes
      int pd = blocks * P; // and scales
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
      for (int k = 0; k < c; k++) {
        int i = o + k * P;
        int j = od + k / BLOCK * P;
        FloatVector xb = FloatVector.broadcast(F, x[k]);
        a0 =
            ((FloatVector) ByteVector.fromArray(B, q, i).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j))
                .fma(xb, a0);
        a1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + L).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + L))
                .fma(xb, a1);
        b0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + pq).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + pd))
                .fma(xb, b0);
        b1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + pq + L).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + pd + L))
                .fma(xb, b1);
        c0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 2 * pq).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + 2 * pd))
                .fma(xb, c0);
        c1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 2 * pq + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + 2 * pd + L))
                .fma(xb, c1);
        e0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 3 * pq).convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + 3 * pd))
                .fma(xb, e0);
        e1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 3 * pq + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(FloatVector.fromArray(F, d, j + 3 * pd + L))
                .fma(xb, e1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
      b0.intoArray(y, yOff + P);
      b1.intoArray(y, yOff + P + L);
      c0.intoArray(y, yOff + 2 * P);
      c1.intoArray(y, yOff + 2 * P + L);
      e0.intoArray(y, yOff + 3 * P);
      e1.intoArray(y, yOff + 3 * P + L);
    }

    @Override
    void one(int p, float[] x, float[] y, int yOff) {
      int o = p * cols * P;
      int od = p * blocks * P;
      int c = cols;
      FloatVector a0 = FloatVector.zero(F);
      FloatVector a1 = a0;
      for (int k = 0; k < c; k += 4) { // unrolled by hand; k..k+3 share a block
        int i = o + k * P;
        FloatVector d0 = FloatVector.fromArray(F, d, od + k / BLOCK * P);
        FloatVector d1 = FloatVector.fromArray(F, d, od + k / BLOCK * P + L);
        FloatVector x0 = FloatVector.broadcast(F, x[k]);
        a0 =
            ((FloatVector) ByteVector.fromArray(B, q, i).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0)
                .fma(x0, a0);
        a1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + L).convertShape(VectorOperators.B2F, F, 0))
                .mul(d1)
                .fma(x0, a1);
        FloatVector x1 = FloatVector.broadcast(F, x[k + 1]);
        a0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 1 * P).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0)
                .fma(x1, a0);
        a1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 1 * P + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(d1)
                .fma(x1, a1);
        FloatVector x2 = FloatVector.broadcast(F, x[k + 2]);
        a0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 2 * P).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0)
                .fma(x2, a0);
        a1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 2 * P + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(d1)
                .fma(x2, a1);
        FloatVector x3 = FloatVector.broadcast(F, x[k + 3]);
        a0 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 3 * P).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0)
                .fma(x3, a0);
        a1 =
            ((FloatVector)
                    ByteVector.fromArray(B, q, i + 3 * P + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(d1)
                .fma(x3, a1);
      }
      a0.intoArray(y, yOff);
      a1.intoArray(y, yOff + L);
    }

    @Override
    void four(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * P;
      int od = p * blocks * P;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z;
      for (int k = 0; k < c; k++) {
        FloatVector d0 = FloatVector.fromArray(F, d, od + k / BLOCK * P);
        FloatVector d1 = FloatVector.fromArray(F, d, od + k / BLOCK * P + L);
        FloatVector lo =
            ((FloatVector)
                    ByteVector.fromArray(B, q, o + k * P).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0);
        FloatVector hi =
            ((FloatVector)
                    ByteVector.fromArray(B, q, o + k * P + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(d1);
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 4 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 4 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 4 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 4 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
    }

    @Override
    void eight(int p, float[] x, int xOff, float[] y, int yOff, int stride) {
      int o = p * cols * P;
      int od = p * blocks * P;
      int c = cols;
      FloatVector z = FloatVector.zero(F);
      FloatVector a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
      FloatVector b0 = z, b1 = z, b2 = z, b3 = z, b4 = z, b5 = z, b6 = z, b7 = z;
      for (int k = 0; k < c; k++) {
        FloatVector d0 = FloatVector.fromArray(F, d, od + k / BLOCK * P);
        FloatVector d1 = FloatVector.fromArray(F, d, od + k / BLOCK * P + L);
        FloatVector lo =
            ((FloatVector)
                    ByteVector.fromArray(B, q, o + k * P).convertShape(VectorOperators.B2F, F, 0))
                .mul(d0);
        FloatVector hi =
            ((FloatVector)
                    ByteVector.fromArray(B, q, o + k * P + L)
                        .convertShape(VectorOperators.B2F, F, 0))
                .mul(d1);
        FloatVector x0 = FloatVector.broadcast(F, x[xOff + 8 * k]);
        a0 = lo.fma(x0, a0);
        b0 = hi.fma(x0, b0);
        FloatVector x1 = FloatVector.broadcast(F, x[xOff + 8 * k + 1]);
        a1 = lo.fma(x1, a1);
        b1 = hi.fma(x1, b1);
        FloatVector x2 = FloatVector.broadcast(F, x[xOff + 8 * k + 2]);
        a2 = lo.fma(x2, a2);
        b2 = hi.fma(x2, b2);
        FloatVector x3 = FloatVector.broadcast(F, x[xOff + 8 * k + 3]);
        a3 = lo.fma(x3, a3);
        b3 = hi.fma(x3, b3);
        FloatVector x4 = FloatVector.broadcast(F, x[xOff + 8 * k + 4]);
        a4 = lo.fma(x4, a4);
        b4 = hi.fma(x4, b4);
        FloatVector x5 = FloatVector.broadcast(F, x[xOff + 8 * k + 5]);
        a5 = lo.fma(x5, a5);
        b5 = hi.fma(x5, b5);
        FloatVector x6 = FloatVector.broadcast(F, x[xOff + 8 * k + 6]);
        a6 = lo.fma(x6, a6);
        b6 = hi.fma(x6, b6);
        FloatVector x7 = FloatVector.broadcast(F, x[xOff + 8 * k + 7]);
        a7 = lo.fma(x7, a7);
        b7 = hi.fma(x7, b7);
      }
      a0.intoArray(y, yOff);
      b0.intoArray(y, yOff + L);
      a1.intoArray(y, yOff + stride);
      b1.intoArray(y, yOff + stride + L);
      a2.intoArray(y, yOff + 2 * stride);
      b2.intoArray(y, yOff + 2 * stride + L);
      a3.intoArray(y, yOff + 3 * stride);
      b3.intoArray(y, yOff + 3 * stride + L);
      a4.intoArray(y, yOff + 4 * stride);
      b4.intoArray(y, yOff + 4 * stride + L);
      a5.intoArray(y, yOff + 5 * stride);
      b5.intoArray(y, yOff + 5 * stride + L);
      a6.intoArray(y, yOff + 6 * stride);
      b6.intoArray(y, yOff + 6 * stride + L);
      a7.intoArray(y, yOff + 7 * stride);
      b7.intoArray(y, yOff + 7 * stride + L);
    }

    @Override
    int fetch(int p) {
      int t = 0;
      int o = p * cols * P;
      for (int i = o; i < o + cols * P; i += 64) t += q[i];
      int od = p * blocks * P;
      for (int i = od; i < od + blocks * P; i += 16) t += (int) d[i];
      return t;
    }

    @Override
    float touch(int band, int bands) {
      int per = (q.length / B.length() + bands - 1) / bands * B.length();
      int from = Math.min(q.length, band * per);
      int to = Math.min(q.length, from + per);
      ByteVector acc = ByteVector.zero(B);
      for (int k = from; k < to; k += B.length()) acc = ByteVector.fromArray(B, q, k).add(acc);
      float s = acc.reduceLanes(VectorOperators.ADD);
      int dp = (d.length + bands - 1) / bands;
      for (int k = band * dp; k < Math.min(d.length, (band + 1) * dp); k++) s += d[k];
      return s;
    }
  }
}
