package tandem.decoder.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.Qwen3Config;
import tandem.common.checkpoint.TensorStore;

/**
 * Qwen3 on libtorch through DJL: {@link Qwen3Model} (one class per HF module) + lm_head + the
 * slot-major {@link KvCache}. The CUDA path (float32 or float16), and on the CPU the float32
 * reference the Java kernel is tested against ({@code -Dtandem.decoder.kernel=torch}). DJL cannot
 * hold bfloat16, so CPU weights here are float32.
 */
final class TorchKernel implements DecodeKernel {
  private static final Logger LOG = LoggerFactory.getLogger(TorchKernel.class);

  private final Qwen3Config config;
  private final NDManager manager;
  private final Qwen3Model model;
  private final NDArray lmHead; // [vocab, hidden]: lm_head, or embed_tokens itself when tied
  private final NDArray lmHeadT; // its transposed view (no copy), for x·Wᵀ
  private final KvCache cache;
  private final DataType dtype;

  private TorchKernel(
      Qwen3Config config,
      NDManager manager,
      Qwen3Model model,
      NDArray lmHead,
      KvCache cache,
      DataType dtype) {
    this.config = config;
    this.manager = manager;
    this.model = model;
    this.lmHead = lmHead;
    this.lmHeadT = lmHead.transpose();
    this.cache = cache;
    this.dtype = dtype;
  }

  static TorchKernel load(
      TensorStore store, Qwen3Config c, String prefix, boolean tied, DecoderOptions opts) {
    Device device = pickDevice(opts);
    DataType dtype =
        device.isGpu() && opts.dtype().equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32;
    if (opts.dtype().equals("float16") && dtype != DataType.FLOAT16) {
      LOG.warn("dtype float16 needs cuda; running float32 on cpu");
    }
    NDManager manager = NDManager.newBaseManager(device, "PyTorch");
    try {
      TorchWeights w = new TorchWeights(store, manager, device, dtype);
      long v = c.vocabSize();
      long h = c.hiddenSize();
      ByteBuffer embed = store.float32(prefix + "embed_tokens.weight", v, h);
      // When tied, the one float32 copy of embed_tokens serves both embedding lookups and the
      // lm_head.
      Qwen3Model model = new Qwen3Model(w, prefix, c, opts.maxSeqLen(), embed);
      NDArray lmHead =
          tied
              ? w.place(embed, new Shape(v, h))
              : w.linear(h, new String[] {"lm_head.weight"}, new long[] {v});
      KvCache cache =
          new KvCache(
              manager,
              c.numHiddenLayers(),
              opts.slots(),
              c.numKeyValueHeads(),
              opts.maxSeqLen(),
              c.headDim(),
              dtype);
      return new TorchKernel(c, manager, model, lmHead, cache, dtype);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /** Whether {@code cuda} was asked for and PyTorch sees a GPU. */
  static boolean gpuAvailable(DecoderOptions opts) {
    return opts.device().equals("cuda") && Engine.getEngine("PyTorch").getGpuCount() > 0;
  }

  private static Device pickDevice(DecoderOptions opts) {
    if (opts.device().equals("cuda")) {
      if (Engine.getEngine("PyTorch").getGpuCount() > 0) return Device.gpu();
      LOG.warn("device cuda requested but no GPU is visible to PyTorch; falling back to cpu");
    }
    return Device.cpu();
  }

  @Override
  public String name() {
    return "torch";
  }

  @Override
  public String weights() {
    return dtype == DataType.FLOAT16 ? "f16" : "f32";
  }

  @Override
  public String describe() {
    return "libtorch on " + manager.getDevice() + ", " + weights() + " weights";
  }

  /**
   * The arrays one decode step reads in full: every layer's matrices and norms, the final norm, the
   * lm_head.
   */
  private List<NDArray> decodeWeights() {
    List<NDArray> out = new java.util.ArrayList<>();
    for (Qwen3DecoderLayer l : model.layers) {
      // the layer norms' weights live inside qkvProj and gateUpProj
      out.addAll(
          List.of(
              l.selfAttn.qkvProj,
              l.selfAttn.qkNormWeight,
              l.selfAttn.oProj,
              l.mlp.gateUpProj,
              l.mlp.downProj));
    }
    out.add(model.norm.weight);
    out.add(lmHead);
    return out;
  }

  @Override
  public long weightBytesPerToken() {
    long bytes = 0;
    for (NDArray a : decodeWeights()) bytes += a.size() * a.getDataType().getNumOfBytes();
    return bytes;
  }

  /** libtorch's own full {@code sum} of each weight. */
  @Override
  public double weightReadSeconds(int repeats) {
    double best = Double.MAX_VALUE;
    List<NDArray> weights = decodeWeights();
    for (int r = 0; r < repeats; r++) {
      try (NDManager scope = manager.newSubManager()) {
        long t0 = System.nanoTime();
        for (NDArray w : weights) {
          NDArray s = w.sum();
          s.attach(scope);
          s.getFloat(); // forces the result to exist before the clock stops
        }
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
    }
    return best;
  }

  @Override
  public float[] embed(int[] ids) {
    return model.embed(ids);
  }

  @Override
  public float[] prefill(int slot, int start, float[] inputEmbeds, int len) {
    int h = config.hiddenSize();
    float[] logits = null;
    int chunk = Qwen3ForCausalLM.PREFILL_CHUNK;
    for (int s = 0; s < len; s += chunk) {
      int count = Math.min(chunk, len - s);
      try (Step step = Step.prefill(manager, slot, start + s, count, model.rotaryEmb)) {
        float[] rows = Arrays.copyOfRange(inputEmbeds, s * h, (s + count) * h);
        NDArray x = input(step, rows, count);
        NDArray hidden = model.forward(x, step, cache);
        if (s + count == len) {
          logits = logits(hidden.get(count - 1).reshape(1, h))[0];
        }
      }
    }
    return logits;
  }

  /**
   * Prompts of at most {@link Qwen3ForCausalLM#PREFILL_CHUNK} tokens are stacked into passes of up
   * to {@link Qwen3ForCausalLM#PREFILL_BATCH_ROWS} rows, so every weight matrix is multiplied once
   * for all of them (the attention is still per prompt); longer prompts run alone in chunks. Same
   * results as prefilling one by one.
   */
  @Override
  public float[][] prefill(int[] slots, float[][] inputEmbeds, int[] lens) {
    int n = slots.length;
    float[][] out = new float[n][];
    List<Integer> group = new java.util.ArrayList<>();
    int rows = 0;
    for (int i = 0; i <= n; i++) {
      boolean flush =
          i == n
              || lens[i] > Qwen3ForCausalLM.PREFILL_CHUNK
              || rows + lens[i] > Qwen3ForCausalLM.PREFILL_BATCH_ROWS;
      if (flush && !group.isEmpty()) {
        prefillGroup(group, slots, inputEmbeds, lens, out);
        group.clear();
        rows = 0;
      }
      if (i == n) break;
      if (lens[i] > Qwen3ForCausalLM.PREFILL_CHUNK) {
        out[i] = prefill(slots[i], 0, inputEmbeds[i], lens[i]);
      } else {
        group.add(i);
        rows += lens[i];
      }
    }
    return out;
  }

  /** One stacked pass over prompts {@code idx} (each at most one chunk long). */
  private void prefillGroup(
      List<Integer> idx, int[] slots, float[][] embeds, int[] lens, float[][] out) {
    if (idx.size() == 1) {
      int i = idx.get(0);
      out[i] = prefill(slots[i], 0, embeds[i], lens[i]);
      return;
    }
    int h = config.hiddenSize();
    int m = idx.size();
    int[] gSlots = new int[m];
    int[] gLens = new int[m];
    int total = 0;
    for (int j = 0; j < m; j++) {
      gSlots[j] = slots[idx.get(j)];
      gLens[j] = lens[idx.get(j)];
      total += gLens[j];
    }
    float[] rows = new float[total * h];
    long[] last = new long[m];
    int off = 0;
    for (int j = 0; j < m; j++) {
      System.arraycopy(embeds[idx.get(j)], 0, rows, off * h, gLens[j] * h);
      off += gLens[j];
      last[j] = off - 1;
    }
    float[][] logits;
    try (Step step = Step.prefillBatch(manager, gSlots, gLens, model.rotaryEmb)) {
      NDArray hidden = model.forward(input(step, rows, total), step, cache);
      NDArray lastIdx = step.manager().create(last);
      if (!lastIdx.getDevice().equals(hidden.getDevice()))
        lastIdx = lastIdx.toDevice(hidden.getDevice(), false);
      logits = logits(hidden.get(new NDIndex("{}", lastIdx)));
    }
    for (int j = 0; j < m; j++) out[idx.get(j)] = logits[j];
  }

  @Override
  public float[][] decode(int[] slots, int[] positions, float[] embeds) {
    try (Step step = Step.decode(manager, slots, positions, model.rotaryEmb)) {
      NDArray x = input(step, embeds, slots.length);
      return logits(model.forward(x, step, cache));
    }
  }

  @Override
  public void release(int slot) {
    // slot-major storage: nothing to give back; positions past the length are never read
  }

  @Override
  public void close() {
    cache.close();
    manager.close();
  }

  private NDArray input(Step step, float[] rows, int count) {
    NDArray x = step.manager().create(rows, new Shape(count, config.hiddenSize()));
    if (!x.getDevice().equals(lmHead.getDevice())) x = x.toDevice(lmHead.getDevice(), false);
    if (dtype != DataType.FLOAT32) x = x.toType(dtype, false);
    return x;
  }

  /** Final norm + lm_head for hidden rows [B, hidden] → float32 logits [B][vocab]. */
  private float[][] logits(NDArray hidden) {
    NDArray logits = model.norm.forward(hidden).matMul(lmHeadT); // [B, vocab]
    if (logits.getDataType() != DataType.FLOAT32) logits = logits.toType(DataType.FLOAT32, false);
    // Straight from the native buffer into one array per row (toFloatArray + copyOfRange copied
    // every step twice).
    java.nio.FloatBuffer flat = logits.toByteBuffer().asFloatBuffer();
    int b = (int) hidden.getShape().get(0);
    int v = config.vocabSize();
    float[][] out = new float[b][v];
    for (int i = 0; i < b; i++) flat.get(out[i]);
    return out;
  }
}
