package tandem.decoder.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.Bf16;
import tandem.common.checkpoint.Qwen3Config;
import tandem.common.checkpoint.TensorStore;

/**
 * Qwen3 on the CPU in Java: the weights live once, in Java arrays, in the chosen {@link
 * WeightFormat}, and the same arrays serve prefill (register-tiled GEMM) and decode (each weight
 * read once for every row of the step). The KV cache is the paged {@link KvPool} (bf16 or f32,
 * under a byte budget, with a prefix cache). One {@link #forward} serves both: its rows are any mix
 * of (slot, position), so a prefill chunk is rows of one slot at consecutive positions and a decode
 * step is one row per slot.
 *
 * <p>Per layer, the computation of HF's {@code Qwen3DecoderLayer.forward}, in float32
 * (grouped-query attention: kv head = head / group):
 *
 * <pre>
 *   xn  = input_layernorm(h)                     RMSNorm, weight applied to the normalized row
 *   qkv = xn · [q_proj | k_proj | v_proj]ᵀ       one matrix, one multiply
 *   q, k = q_norm(q), k_norm(k) per head; RoPE   k and v are written to the cache at the row's position
 *   a   = softmax(q·Kᵀ · headDim^-½) · V         over the slot's positions 0..pos
 *   h  += a · o_projᵀ
 *   xn  = post_attention_layernorm(h)
 *   gu  = xn · [gate_proj | up_proj]ᵀ            one matrix, one multiply
 *   h  += (silu(gate) ⊙ up) · down_projᵀ
 * </pre>
 *
 * then the final norm and lm_head (tied: embed_tokens itself) for the rows whose logits are wanted.
 */
final class JavaKernel implements DecodeKernel {
  private static final Logger LOG = LoggerFactory.getLogger(JavaKernel.class);
  private static final int L = PackedMatrix.L;

  /**
   * Two vectors of positions per block: the score loop keeps a block's scores of two heads in four
   * registers.
   */
  static final int BLOCK_TOKENS = 2 * L;

  /** One decoder layer's weights by their HF names (q|k|v and gate|up stacked in HF order). */
  record Layer(
      PackedMatrix qkvProj,
      PackedMatrix oProj,
      PackedMatrix gateUpProj,
      PackedMatrix downProj,
      float[] inputLayernorm,
      float[] postAttentionLayernorm,
      float[] qNorm,
      float[] kNorm) {}

  private final int hidden;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final int group;
  private final int inter;
  private final int vocab;
  private final int qkvOut;
  private final float eps;
  private final float scale;
  private final Layer[] layers;
  private final float[] norm;
  private final PackedMatrix embedTokens;
  private final PackedMatrix lmHead; // embedTokens itself when tied
  private final float[] cos;
  private final float[] sin;
  private final KvPool kv;
  private final WeightFormat format;
  private final IntraOpPool pool = IntraOpPool.shared();

  /** Where the floor read's sums go (racy on purpose: only their being stored matters). */
  private static volatile float sink;

  private final ThreadLocal<float[]> scratch = ThreadLocal.withInitial(() -> new float[0]);

  /** Per thread: one head's normalized values, for RoPE's rotate_half. */
  private final ThreadLocal<float[]> ropeScratch = ThreadLocal.withInitial(() -> new float[0]);

  /**
   * Per calling thread: the lm_head's output for several rows, before each row is copied out into
   * its own array. Kept up to {@link #LOGITS_SCRATCH_ROWS} rows (4.9 MB for Qwen3's vocabulary).
   */
  private final ThreadLocal<float[]> logitsScratch = ThreadLocal.withInitial(() -> new float[0]);

  private static final int LOGITS_SCRATCH_ROWS = 8;

  private JavaKernel(
      Qwen3Config c,
      Layer[] layers,
      float[] norm,
      PackedMatrix embed,
      PackedMatrix lmHead,
      WeightFormat format,
      DecoderOptions opts) {
    this.hidden = c.hiddenSize();
    this.heads = c.numAttentionHeads();
    this.kvHeads = c.numKeyValueHeads();
    this.headDim = c.headDim();
    this.group = heads / kvHeads;
    this.inter = c.intermediateSize();
    this.vocab = c.vocabSize();
    this.qkvOut = (heads + 2 * kvHeads) * headDim;
    this.eps = (float) c.rmsNormEps();
    this.scale = (float) (1.0 / Math.sqrt(headDim));
    this.layers = layers;
    this.norm = norm;
    this.embedTokens = embed;
    this.lmHead = lmHead;
    this.format = format;
    float[][] t = Qwen3RotaryEmbedding.tables(headDim, c.ropeTheta(), opts.maxSeqLen());
    this.cos = t[0];
    this.sin = t[1];
    KvPool.Dtype dtype = KvPool.Dtype.parse(opts.kvDtype());
    long budget = opts.kvCacheBytes() > 0 ? opts.kvCacheBytes() : DecoderOptions.DEFAULT_KV_BYTES;
    long blockBytes = KvPool.blockBytes(layers.length, kvHeads, headDim, BLOCK_TOKENS, dtype);
    int capacity = DecodeKernel.kvBlocks(budget, blockBytes, BLOCK_TOKENS, opts);
    this.kv =
        new KvPool(layers.length, kvHeads, headDim, BLOCK_TOKENS, dtype, opts.slots(), capacity);
    Runtime rt = Runtime.getRuntime();
    long worst = capacity * kv.blockBytes();
    long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    if (worst > free) {
      LOG.warn(
          "the KV budget of {} MiB is more than the {} MiB of heap left: sequences fail with an"
              + " error when the heap runs out (raise -Xmx or lower the KV cache budget)",
          worst >> 20,
          free >> 20);
    }
    // after the check: it compares the budget with the heap still free before any block exists
    if (opts.kvPreallocate()) kv.preallocate();
  }

  /** Why this model cannot run on the Java kernel, or null when it can. */
  static String unsupported(Qwen3Config c) {
    long q = (long) c.numAttentionHeads() * c.headDim();
    long qkv = q + 2L * c.numKeyValueHeads() * c.headDim();
    long[][] shapes = {
      {qkv, c.hiddenSize()},
      {c.hiddenSize(), q},
      {2L * c.intermediateSize(), c.hiddenSize()},
      {c.hiddenSize(), c.intermediateSize()},
      {c.vocabSize(), c.hiddenSize()}
    };
    for (long[] s : shapes) {
      if (!PackedMatrix.fits(s[0], s[1])) {
        return "a ["
            + s[0]
            + ", "
            + s[1]
            + "] matrix does not fit the Java kernel (rows % 4, columns % "
            + PackedMatrix.COL_ALIGN
            + ", under 2^31 elements)";
      }
    }
    if (c.headDim() % L != 0)
      return "head_dim " + c.headDim() + " is not a multiple of the vector length " + L;
    if (c.numAttentionHeads() % c.numKeyValueHeads() != 0)
      return "heads are not a multiple of kv heads";
    return null;
  }

  /**
   * Reads the text model from {@code store} (tensor names under {@code prefix}) straight into
   * packed arrays, row by row: nothing of the file stays mapped and no float32 copy is kept.
   */
  static JavaKernel load(
      TensorStore store,
      Qwen3Config c,
      String prefix,
      boolean tied,
      WeightFormat f,
      DecoderOptions opts) {
    int h = c.hiddenSize();
    int q = c.numAttentionHeads() * c.headDim();
    int kvd = c.numKeyValueHeads() * c.headDim();
    int im = c.intermediateSize();
    Layer[] layers = new Layer[c.numHiddenLayers()];
    for (int i = 0; i < layers.length; i++) {
      String p = prefix + "layers." + i + ".";
      String a = p + "self_attn.";
      String m = p + "mlp.";
      layers[i] =
          new Layer(
              stack(
                  store,
                  f,
                  h,
                  new String[] {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                  new int[] {q, kvd, kvd}),
              stack(store, f, q, new String[] {a + "o_proj.weight"}, new int[] {h}),
              stack(
                  store,
                  f,
                  h,
                  new String[] {m + "gate_proj.weight", m + "up_proj.weight"},
                  new int[] {im, im}),
              stack(store, f, im, new String[] {m + "down_proj.weight"}, new int[] {h}),
              vector(store, p + "input_layernorm.weight", h),
              vector(store, p + "post_attention_layernorm.weight", h),
              vector(store, a + "q_norm.weight", c.headDim()),
              vector(store, a + "k_norm.weight", c.headDim()));
    }
    float[] norm = vector(store, prefix + "norm.weight", h);
    PackedMatrix embed =
        stack(
            store, f, h, new String[] {prefix + "embed_tokens.weight"}, new int[] {c.vocabSize()});
    PackedMatrix head =
        tied
            ? embed
            : stack(store, f, h, new String[] {"lm_head.weight"}, new int[] {c.vocabSize()});
    JavaKernel k = new JavaKernel(c, layers, norm, embed, head, f, opts);
    LOG.info(
        "Java kernel: {} weights, {} MB, {} lanes of float; KV cache {} x {}-token blocks of {} ({}"
            + " MiB, {})",
        f,
        k.weightBytes() >> 20,
        L,
        k.kv.capacity,
        BLOCK_TOKENS,
        k.kv.dtype.id,
        k.kv.capacity * k.kv.blockBytes() >> 20,
        opts.kvPreallocate() ? "created at start" : "created as used");
    return k;
  }

  /**
   * The named [out_i, in] tensors as one [Σ out_i, in] matrix, rows in the order of {@code names}.
   */
  private static PackedMatrix stack(
      TensorStore store, WeightFormat f, int in, String[] names, int[] outs) {
    int total = 0;
    for (int o : outs) total += o;
    PackedMatrix m = PackedMatrix.allocate(f, total, in);
    int base = 0;
    for (int i = 0; i < names.length; i++) {
      int at = base;
      store.readRows(names[i], new long[] {outs[i], in}, (r, row) -> m.setRow(at + r, row));
      base += outs[i];
    }
    return m;
  }

  private static float[] vector(TensorStore store, String name, int n) {
    float[] v = new float[n];
    store.readRows(
        name, new long[] {n}, (r, row) -> System.arraycopy(row, 0, v, 0, n)); // one row of n
    return v;
  }

  @Override
  public void forEachRow(int n, IntConsumer body) {
    pool.parallelFor(n, body);
  }

  @Override
  public String name() {
    return "java";
  }

  @Override
  public String weights() {
    return format.id();
  }

  @Override
  public String describe() {
    return "Java Vector API, "
        + PackedMatrix.F.vectorBitSize()
        + "-bit float vectors ("
        + PackedMatrix.F.length()
        + " lanes), "
        + format.id()
        + " weights, "
        + pool.threads()
        + " threads";
  }

  /** Every weight array, for byte counts and the read floor. */
  private List<PackedMatrix> matrices() {
    List<PackedMatrix> out = new ArrayList<>();
    for (Layer l : layers) out.addAll(List.of(l.qkvProj, l.oProj, l.gateUpProj, l.downProj));
    out.add(lmHead);
    return out;
  }

  /** Bytes of weights held (embed_tokens counted once when tied). */
  long weightBytes() {
    long b = 0;
    for (PackedMatrix m : matrices()) b += m.bytes();
    if (lmHead != embedTokens) b += embedTokens.bytes();
    return b;
  }

  @Override
  public long weightBytesPerToken() {
    long b = 0;
    for (PackedMatrix m : matrices()) b += m.bytes();
    return b;
  }

  @Override
  public double weightReadSeconds(int repeats) {
    List<PackedMatrix> ms = matrices();
    int bands = pool.threads();
    double best = Double.MAX_VALUE;
    for (int r = 0; r < repeats; r++) {
      long t0 = System.nanoTime();
      pool.parallelFor(
          bands,
          band -> {
            float s = 0;
            for (PackedMatrix m : ms) s += m.touch(band, bands);
            sink += s; // published, so the reads cannot be optimized away
          });
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
    }
    return best;
  }

  /** Every weight matrix's multiply-adds for {@code rows} rows with the weights kept in cache. */
  @Override
  public double multiplyInCacheSeconds(int rows, int repeats) {
    List<PackedMatrix> ms = matrices();
    int cols = 0;
    for (PackedMatrix m : ms) cols = Math.max(cols, m.cols);
    float[] x = new float[Kernels.paddedRows(rows) * cols];
    java.util.Arrays.fill(x, 0.5f);
    double best = Double.MAX_VALUE;
    for (int r = 0; r < repeats; r++) {
      long t0 = System.nanoTime();
      for (PackedMatrix m : ms) m.multiplyInCache(x, rows, pool);
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
    }
    return best;
  }

  @Override
  public KvPool kvPool() {
    return kv;
  }

  @Override
  public int hiddenSize() {
    return hidden;
  }

  @Override
  public float[] embed(int[] ids) {
    float[] out = new float[ids.length * hidden];
    for (int i = 0; i < ids.length; i++) embedTokens.row(ids[i], out, i * hidden);
    return out;
  }

  @Override
  public void close() {
    // heap arrays: nothing to free by hand
  }

  @Override
  public float[][] forward(int[] slots, int[] positions, float[] x, int[] logitRows) {
    int n = slots.length;
    int p = Kernels.paddedRows(n);
    int h = hidden;
    for (int r = 0; r < n; r++) kv.ensure(slots[r], positions[r] + 1);
    float[] hs = new float[p * h];
    System.arraycopy(x, 0, hs, 0, n * h);
    float[] xn = new float[p * h];
    float[] qkv = new float[p * qkvOut];
    float[] attn = new float[p * heads * headDim];
    float[] tmp = new float[p * h];
    float[] gu = new float[p * 2 * inter];
    float[] act = new float[p * inter];
    for (int li = 0; li < layers.length; li++) {
      Layer layer = layers[li];
      int l = li;
      Kernels.rmsNorm(hs, xn, n, h, layer.inputLayernorm, eps);
      layer.qkvProj.matmul(xn, n, qkv, pool);
      pool.parallelFor(n, r -> normRope(layer, qkv, r, positions[r]));
      // by kv head: rows of one slot may share a bf16 pair, and each kv head's cache entries are
      // its own. A few rows write a few hundred floats a head: waking the pool would cost more.
      if (n >= 8) {
        pool.parallelFor(
            kvHeads,
            g -> {
              for (int r = 0; r < n; r++) cache(l, qkv, r, g, slots[r], positions[r]);
            });
      } else {
        for (int g = 0; g < kvHeads; g++)
          for (int r = 0; r < n; r++) cache(l, qkv, r, g, slots[r], positions[r]);
      }
      pool.parallelFor(
          n * kvHeads,
          t ->
              attend(
                  l,
                  qkv,
                  attn,
                  t / kvHeads,
                  t % kvHeads,
                  slots[t / kvHeads],
                  positions[t / kvHeads]));
      layer.oProj.matmul(attn, n, tmp, pool);
      Kernels.addInto(hs, tmp, n * h);
      Kernels.rmsNorm(hs, xn, n, h, layer.postAttentionLayernorm, eps);
      layer.gateUpProj.matmul(xn, n, gu, pool);
      if (n >= 8) {
        pool.parallelFor(n, r -> Kernels.siluMul(gu, act, r, inter));
      } else {
        for (int r = 0; r < n; r++) Kernels.siluMul(gu, act, r, inter);
      }
      layer.downProj.matmul(act, n, tmp, pool);
      Kernels.addInto(hs, tmp, n * h);
    }
    int m = logitRows.length;
    if (m == 0) return new float[0][];
    int mp = Kernels.paddedRows(m);
    float[] sel = new float[mp * h];
    for (int i = 0; i < m; i++) System.arraycopy(hs, logitRows[i] * h, sel, i * h, h);
    float[] sn = new float[mp * h];
    Kernels.rmsNorm(sel, sn, m, h, norm, eps);
    if (m == 1) {
      float[] logits = new float[vocab]; // one row is not padded: the array is its logits already
      lmHead.matmul(sn, 1, logits, pool);
      return new float[][] {logits};
    }
    float[] logits = logitsBuffer(mp * vocab, mp);
    lmHead.matmul(sn, m, logits, pool);
    // Each row into its own array, on the pool: Arrays.copyOfRange does not zero the new array
    // first. A fresh [mp·vocab] buffer plus zeroed row arrays and a copy on the caller cost 1.5-1.8
    // ms of an 8-row step (about 2 %), during which the workers waited.
    float[][] out = new float[m][];
    pool.parallelFor(m, i -> out[i] = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab));
    return out;
  }

  /**
   * q_norm/k_norm and RoPE on one row's heads, in place. Vectors where whole ones fit, lane by lane
   * the same multiplies and adds as the scalar tail (no fused multiply-add), so the results do not
   * depend on the vector width: {@code x = w·(v·s)}, then {@code x·cos + rotate_half(x)·sin}.
   */
  private void normRope(Layer layer, float[] rows, int r, int pos) {
    int d = headDim;
    int half = d / 2;
    int base = r * qkvOut;
    float[] x = ropeScratch.get();
    if (x.length < d) {
      x = new float[d];
      ropeScratch.set(x);
    }
    int table = pos * d;
    int whole = half / L * L; // vector lanes per half
    for (int n = 0; n < heads + kvHeads; n++) {
      int off = base + n * d;
      float[] w = n < heads ? layer.qNorm : layer.kNorm;
      Kernels.weightRow(rows, off, Kernels.rmsScale(rows, off, d, eps), w, x, 0, d);
      for (int h = 0; h < 2; h++) { // the first half pairs with the second, and back
        int from = h * half;
        int other = half - from;
        int j = 0;
        for (; j < whole; j += L) {
          int k = from + j;
          FloatVector.fromArray(PackedMatrix.F, x, k)
              .mul(FloatVector.fromArray(PackedMatrix.F, cos, table + k))
              .add(
                  FloatVector.fromArray(PackedMatrix.F, x, other + j)
                      .mul(FloatVector.fromArray(PackedMatrix.F, sin, table + k)))
              .intoArray(rows, off + k);
        }
        for (; j < half; j++) {
          int k = from + j;
          rows[off + k] = x[k] * cos[table + k] + x[other + j] * sin[table + k];
        }
      }
    }
  }

  /**
   * Kv head g's k and v of row r (position pos of slot) into the cache, in the pool's layout and
   * dtype.
   */
  private void cache(int l, float[] rows, int r, int g, int slot, int pos) {
    int d = headDim;
    int bt = BLOCK_TOKENS;
    int b = pos / bt;
    int t = pos % bt;
    int kOff = r * qkvOut + heads * d + g * d;
    int vOff = r * qkvOut + (heads + kvHeads) * d + g * d;
    if (kv.dtype == KvPool.Dtype.F32) {
      float[] kb = kv.keysF(l, slot, b);
      int kBase = g * d * bt + t;
      for (int i = 0; i < d; i++) kb[kBase + i * bt] = rows[kOff + i];
      System.arraycopy(rows, vOff, kv.valuesF(l, slot, b), (g * bt + t) * d, d);
      return;
    }
    int half = bt / 2;
    boolean high = t >= half;
    int tt = high ? t - half : t;
    int[] kb = kv.keysI(l, slot, b);
    int kBase = g * d * half + tt;
    for (int i = 0; i < d; i++)
      kb[kBase + i * half] = withHalf(kb[kBase + i * half], rows[kOff + i], high);
    int[] vb = kv.valuesI(l, slot, b);
    int vBase = (g * half + tt) * d;
    for (int i = 0; i < d; i++) vb[vBase + i] = withHalf(vb[vBase + i], rows[vOff + i], high);
  }

  /** {@code pair} with its low or high bfloat16 replaced by {@code x} rounded to nearest even. */
  private static int withHalf(int pair, float x, boolean high) {
    int b = Bf16.fromFloat(x) & 0xFFFF;
    return high ? (pair & 0xFFFF) | (b << 16) : (pair & 0xFFFF0000) | b;
  }

  /** A buffer of at least {@code size} floats for {@code rows} rows of logits (contents stale). */
  private float[] logitsBuffer(int size, int rows) {
    if (rows > LOGITS_SCRATCH_ROWS) return new float[size];
    float[] b = logitsScratch.get();
    if (b.length < size) {
      b = new float[size];
      logitsScratch.set(b);
    }
    return b;
  }

  /**
   * Query heads of kv head g for row r (position pos of slot), over positions [0, pos], into attn
   * [r, heads·d].
   */
  private void attend(int l, float[] rows, float[] attn, int r, int g, int slot, int pos) {
    int d = headDim;
    int len = pos + 1;
    int bt = BLOCK_TOKENS;
    int blocks = (len + bt - 1) / bt;
    // room for whole groups of four blocks: the score loops write every lane of the last one
    int stride = (blocks + 3) / 4 * 4 * bt;
    float[] s = scratch.get();
    if (s.length < 2 * stride) {
      s = new float[2 * stride + 8 * bt];
      scratch.set(s);
    }
    for (int j = 0; j < group; j += 2) {
      int n =
          Math.min(2, group - j); // heads of the group done together: they share every K and V load
      int head = g * group + j;
      int qOff = r * qkvOut + head * d;
      boolean f32 = kv.dtype == KvPool.Dtype.F32;
      int b = 0;
      if (!f32 && n == 2) {
        // Four blocks a call, the last call padded with the last block again (its scores land past
        // len, where nothing reads them): a block left over scored alone kept 4 chains of
        // multiply-adds in flight instead of 16, and its V was not read ahead. 8 rows at 170
        // positions: 0.94x the attention's time; same bits (each score keeps its chain).
        int last = blocks - 1;
        int touched = 0;
        for (; b < blocks; b += 4) {
          int b1 = Math.min(b + 1, last);
          int b2 = Math.min(b + 2, last);
          int b3 = Math.min(b + 3, last);
          touched +=
              Kernels.scoresBf16Blocks4(
                  rows,
                  qOff,
                  d,
                  kv.keysI(l, slot, b),
                  kv.keysI(l, slot, b1),
                  kv.keysI(l, slot, b2),
                  kv.keysI(l, slot, b3),
                  g * d * (bt / 2),
                  kv.valuesI(l, slot, b),
                  kv.valuesI(l, slot, b1),
                  kv.valuesI(l, slot, b2),
                  kv.valuesI(l, slot, b3),
                  g * (bt / 2) * d,
                  s,
                  b * bt,
                  stride);
        }
        if (touched == 42) sink++; // uses the V reads' sum, so the JIT keeps them
      }
      for (; b < blocks; b++) {
        if (f32)
          Kernels.scores(rows, qOff, n, d, kv.keysF(l, slot, b), g * d * bt, s, b * bt, stride);
        else
          Kernels.scoresBf16(
              rows, qOff, n, d, kv.keysI(l, slot, b), g * d * (bt / 2), s, b * bt, stride);
      }
      for (int i = 0; i < n; i++) Kernels.scaledSoftmax(s, i * stride, len, scale);
      int out = r * heads * d + head * d;
      java.util.Arrays.fill(attn, out, out + n * d, 0f);
      for (b = 0; b < blocks; b++) {
        int count = Math.min(bt, len - b * bt);
        if (f32)
          Kernels.weighted(
              s, b * bt, stride, n, count, kv.valuesF(l, slot, b), g * bt * d, d, attn, out);
        else
          Kernels.weightedBf16(
              s, b * bt, stride, n, count, kv.valuesI(l, slot, b), g * (bt / 2) * d, d, attn, out);
      }
    }
  }
}
