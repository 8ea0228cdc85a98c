package tandem.decoder.model;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;
import tandem.common.checkpoint.Qwen3Config;

/**
 * The decode step on CPU float32, in Java ({@link VectorOps}) instead of ~1500 small libtorch calls: the same
 * computation as {@link Qwen3Model#forward} for rows that each add one position to their own slot. It reads the
 * weights, RoPE tables and KV cache that the libtorch modules own, through direct views of their memory (no copy), so
 * prefill (libtorch, where large GEMMs win) and decode (here, where reading each weight once for all rows wins) share
 * one cache.
 */
final class CpuDecoder {
  private final int hidden;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final int group;
  private final int inter;
  private final int vocab;
  private final int qkvOut;
  private final int maxSeqLen;
  private final float eps;
  private final ByteBuffer[] qkv;
  private final ByteBuffer[] o;
  private final ByteBuffer[] gateUp;
  private final ByteBuffer[] down;
  private final float[][] qkNorm;
  private final ByteBuffer[] keys;
  private final ByteBuffer[] values;
  private final float[] finalNorm;
  private final ByteBuffer lmHead;
  private final float[] cos;
  private final float[] sin;
  private final IntraOpPool pool = IntraOpPool.shared();
  private final ThreadLocal<float[]> scores = ThreadLocal.withInitial(() -> new float[0]);

  private CpuDecoder(Qwen3Config c, Qwen3Model model, NDArray lmHeadArray, KvCache cache) {
    this.hidden = c.hiddenSize();
    this.heads = c.numAttentionHeads();
    this.kvHeads = c.numKeyValueHeads();
    this.headDim = c.headDim();
    this.group = heads / kvHeads;
    this.inter = c.intermediateSize();
    this.vocab = c.vocabSize();
    this.qkvOut = (heads + 2 * kvHeads) * headDim;
    this.maxSeqLen = cache.maxSeqLen;
    this.eps = (float) c.rmsNormEps();
    int layers = model.layers.length;
    qkv = new ByteBuffer[layers];
    o = new ByteBuffer[layers];
    gateUp = new ByteBuffer[layers];
    down = new ByteBuffer[layers];
    qkNorm = new float[layers][];
    keys = new ByteBuffer[layers];
    values = new ByteBuffer[layers];
    for (int l = 0; l < layers; l++) {
      Qwen3DecoderLayer layer = model.layers[l];
      qkv[l] = view(layer.selfAttn.qkvProj);
      o[l] = view(layer.selfAttn.oProj);
      gateUp[l] = view(layer.mlp.gateUpProj);
      down[l] = view(layer.mlp.downProj);
      qkNorm[l] = layer.selfAttn.qkNorm;
      keys[l] = view(cache.keys[l]);
      values[l] = view(cache.values[l]);
    }
    this.finalNorm = model.norm.weight.toFloatArray();
    this.lmHead = view(lmHeadArray);
    this.cos = model.rotaryEmb.cosHost;
    this.sin = model.rotaryEmb.sinSignedHost;
  }

  /**
   * The kernel for this model, or null with the reason in {@code why[0]} when it cannot run it (an array over the
   * 2 GiB a Java buffer can address).
   */
  static CpuDecoder create(Qwen3Config c, Qwen3Model model, NDArray lmHead, KvCache cache, String[] why) {
    long limit = Integer.MAX_VALUE;
    if (cache.keys.length > 0 && cache.keys[0].size() * 4 > limit) {
      why[0] = "each layer's KV cache (" + cache.keys[0].size() * 4 + " bytes) is over 2 GiB";
      return null;
    }
    if (lmHead.size() * 4 > limit) {
      why[0] = "the lm_head (" + lmHead.size() * 4 + " bytes) is over 2 GiB";
      return null;
    }
    return new CpuDecoder(c, model, lmHead, cache);
  }

  /** A direct buffer over a contiguous CPU float32 array's memory (shared, not copied). */
  private static ByteBuffer view(NDArray a) {
    return JniUtils.getByteBuffer((PtNDArray) a, true).order(VectorOps.ORDER);
  }

  /**
   * One decode step: row i (embedding {@code embeds[i·hidden ...]}) is position {@code positions[i]} of slot
   * {@code slots[i]}; writes each row's K/V at that position and returns float32 logits per row.
   */
  float[][] decode(int[] slots, int[] positions, float[] embeds) {
    int b = slots.length;
    int p = VectorOps.paddedRows(b);
    int h = hidden;
    float[] hs = new float[p * h];
    System.arraycopy(embeds, 0, hs, 0, b * h);
    float[] xn = new float[p * h];
    float[] qkvRows = new float[p * qkvOut];
    float[] attn = new float[p * heads * headDim];
    float[] tmp = new float[p * h];
    float[] gu = new float[p * 2 * inter];
    float[] act = new float[p * inter];
    for (int l = 0; l < qkv.length; l++) {
      normalize(hs, xn, b, null);
      VectorOps.matmul(qkv[l], qkvOut, h, xn, b, qkvRows, pool);
      for (int r = 0; r < b; r++) normRopeAndCache(l, qkvRows, r, slots[r], positions[r]);
      int layer = l;
      pool.parallelFor(b * kvHeads, t -> attend(layer, qkvRows, attn, t / kvHeads, t % kvHeads, slots, positions));
      VectorOps.matmul(o[l], h, heads * headDim, attn, b, tmp, pool);
      addInto(hs, tmp, b * h);
      normalize(hs, xn, b, null);
      VectorOps.matmul(gateUp[l], 2 * inter, h, xn, b, gu, pool);
      VectorOps.siluMul(gu, act, b, inter);
      VectorOps.matmul(down[l], h, inter, act, b, tmp, pool);
      addInto(hs, tmp, b * h);
    }
    normalize(hs, xn, b, finalNorm);
    float[] logits = new float[p * vocab];
    VectorOps.matmul(lmHead, vocab, h, xn, b, logits, pool);
    float[][] out = new float[b][vocab];
    for (int r = 0; r < b; r++) System.arraycopy(logits, r * vocab, out[r], 0, vocab);
    return out;
  }

  /** RMSNorm of each row (weight folded into the next matrix when null). */
  private void normalize(float[] x, float[] dst, int rows, float[] weight) {
    int h = hidden;
    for (int r = 0; r < rows; r++) {
      int off = r * h;
      float s = VectorOps.rmsScale(x, off, h, eps);
      if (weight == null) {
        for (int i = 0; i < h; i++) dst[off + i] = x[off + i] * s;
      } else {
        for (int i = 0; i < h; i++) dst[off + i] = weight[i] * (x[off + i] * s);
      }
    }
  }

  private static void addInto(float[] acc, float[] v, int n) {
    for (int i = 0; i < n; i++) acc[i] += v[i];
  }

  /**
   * q_norm/k_norm (q's carries the 1/sqrt(headDim) attention scale) and RoPE on one row's q and k heads, in place;
   * then writes the row's k and v into the cache: K is stored transposed per head ([headDim, maxSeqLen]), V as is.
   */
  private void normRopeAndCache(int layer, float[] rows, int r, int slot, int pos) {
    int d = headDim;
    int half = d / 2;
    int base = r * qkvOut;
    float[] w = qkNorm[layer];
    float[] x = new float[d];
    int table = pos * d;
    for (int n = 0; n < heads + kvHeads; n++) {
      int off = base + n * d;
      float s = VectorOps.rmsScale(rows, off, d, eps);
      for (int i = 0; i < d; i++) x[i] = rows[off + i] * s * w[n * d + i];
      for (int i = 0; i < d; i++) {
        float swapped = i < half ? x[i + half] : x[i - half];
        rows[off + i] = x[i] * cos[table + i] + swapped * sin[table + i];
      }
    }
    ByteBuffer k = keys[layer];
    ByteBuffer v = values[layer];
    int kOff = base + heads * d;
    int vOff = kOff + kvHeads * d;
    for (int g = 0; g < kvHeads; g++) {
      int kBase = ((slot * kvHeads + g) * d) * maxSeqLen + pos;
      int vBase = ((slot * kvHeads + g) * maxSeqLen + pos) * d;
      for (int i = 0; i < d; i++) {
        k.putFloat((kBase + i * maxSeqLen) * 4, rows[kOff + g * d + i]);
        v.putFloat((vBase + i) * 4, rows[vOff + g * d + i]);
      }
    }
  }

  /** Query heads of kv head g for row r, over positions [0, pos] of the row's slot, into attn [r, heads·headDim]. */
  private void attend(int layer, float[] rows, float[] attn, int r, int g, int[] slots, int[] positions) {
    int d = headDim;
    int len = positions[r] + 1;
    int slot = slots[r];
    float[] s = scores.get();
    if (s.length < 2 * len) {
      s = new float[2 * maxSeqLen];
      scores.set(s);
    }
    ByteBuffer k = keys[layer];
    ByteBuffer v = values[layer];
    int kBase = ((slot * kvHeads + g) * d) * maxSeqLen;
    int vBase = ((slot * kvHeads + g) * maxSeqLen) * d;
    for (int j = 0; j < group; j += 2) {
      int n = Math.min(2, group - j); // heads of the group done together: they share every K and V load
      int head = g * group + j;
      VectorOps.scores(rows, r * qkvOut + head * d, n, d, k, kBase, maxSeqLen, len, s);
      for (int i = 0; i < n; i++) VectorOps.softmax(s, i * len, len);
      VectorOps.weighted(s, n, len, v, vBase, d, attn, r * heads * d + head * d);
    }
  }
}
