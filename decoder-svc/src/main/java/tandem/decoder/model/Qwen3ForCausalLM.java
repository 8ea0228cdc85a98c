package tandem.decoder.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.checkpoint.Qwen3Config;
import tandem.common.checkpoint.TensorStore;

/**
 * HF Qwen3ForCausalLM on DJL/PyTorch: {@link Qwen3Model} + lm_head (tied to embed_tokens unless the checkpoint says
 * otherwise) + a slot-based KV cache. Loads the text part of a vision-language checkpoint ({@code model.text_model.*})
 * or a plain causal LM ({@code model.*}).
 */
public final class Qwen3ForCausalLM implements CausalLm {
  private static final Logger LOG = LoggerFactory.getLogger(Qwen3ForCausalLM.class);
  /** Prompt rows per prefill pass: bounds the [heads, chunk, keys] score tensor of long prompts. */
  static final int PREFILL_CHUNK = 512;
  /**
   * Rows of one batched prefill pass over several prompts. libtorch's GEMM runs ~1.4x faster at 512–1024 rows than at
   * 128 here (~125 vs ~85 GFLOP/s), so prompts admitted together are stacked into one pass up to this many rows.
   */
  static final int PREFILL_BATCH_ROWS = 1024;

  private final Qwen3Config config;
  private final NDManager manager;
  private final Qwen3Model model;
  private final NDArray lmHead; // [vocab, hidden]: lm_head, or embed_tokens itself when tied
  private final NDArray lmHeadT; // its transposed view (no copy), for x·Wᵀ
  private final boolean tied;
  private final KvCache cache;
  private final DataType dtype;
  private final List<String> unusedTensors;
  private final CpuDecoder cpuDecoder; // null: decode steps run on libtorch
  private boolean closed;

  private Qwen3ForCausalLM(
      Qwen3Config config,
      NDManager manager,
      Qwen3Model model,
      NDArray lmHead,
      boolean tied,
      KvCache cache,
      DataType dtype,
      List<String> unusedTensors,
      CpuDecoder cpuDecoder) {
    this.config = config;
    this.manager = manager;
    this.model = model;
    this.lmHead = lmHead;
    this.lmHeadT = lmHead.transpose();
    this.tied = tied;
    this.cache = cache;
    this.dtype = dtype;
    this.unusedTensors = unusedTensors;
    this.cpuDecoder = cpuDecoder;
  }

  /** Loads the checkpoint folder's text model (config.json + model.safetensors or a sharded index). */
  public static Qwen3ForCausalLM load(Path checkpointDir, DecoderOptions opts) throws IOException {
    ModelConfig mc = ModelConfig.fromDir(checkpointDir);
    if (mc.text() == null) {
      throw new IllegalArgumentException(checkpointDir + " has no text model (config.json has no Qwen3 text config)");
    }
    try (TensorStore store = TensorStore.open(checkpointDir)) {
      return load(store, mc.text(), mc.textPrefix(), opts);
    }
  }

  /**
   * Builds the model from an open store: {@code prefix} is the text model's ("model." or "model.text_model."); the
   * lm_head is {@code lm_head.weight} when present (and identical to embed_tokens when the config ties them).
   */
  public static Qwen3ForCausalLM load(TensorStore store, Qwen3Config c, String prefix, DecoderOptions opts) {
    return load(store, c, prefix, opts, !"torch".equals(System.getProperty(KERNEL_PROPERTY)));
  }

  /**
   * System property that forces decode steps onto libtorch ({@code torch}); by default CPU float32 decode runs on the
   * Java Vector API kernel ({@link CpuDecoder}) when the JVM has {@code --add-modules jdk.incubator.vector}.
   */
  public static final String KERNEL_PROPERTY = "tandem.decoder.kernel";

  static Qwen3ForCausalLM load(TensorStore store, Qwen3Config c, String prefix, DecoderOptions opts, boolean vector) {
    Device device = pickDevice(opts);
    DataType dtype = device.isGpu() && opts.dtype().equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32;
    if (opts.dtype().equals("float16") && dtype != DataType.FLOAT16) {
      LOG.warn("dtype float16 needs cuda; running float32 on cpu");
    }
    NDManager manager = NDManager.newBaseManager(device, "PyTorch");
    try {
      Weights w = new Weights(store, manager, device, dtype);
      long v = c.vocabSize();
      long h = c.hiddenSize();
      ByteBuffer embed = store.float32(prefix + "embed_tokens.weight", v, h);
      boolean tied = tiesLmHead(store, c, embed);
      // When tied, the one float32 copy of embed_tokens serves both embedding lookups and the lm_head.
      Qwen3Model model = new Qwen3Model(w, prefix, c, opts.maxSeqLen(), embed);
      NDArray lmHead = tied ? w.place(embed, new Shape(v, h)) : w.linear(h, new String[] {"lm_head.weight"}, new long[] {v});
      KvCache cache =
          new KvCache(
              manager, c.numHiddenLayers(), opts.slots(), c.numKeyValueHeads(), opts.maxSeqLen(), c.headDim(), dtype);
      String textPrefix = prefix;
      List<String> unused =
          store.unused().stream()
              .filter(n -> n.startsWith(textPrefix) || n.startsWith("lm_head."))
              .sorted()
              .collect(Collectors.toList());
      if (!unused.isEmpty()) LOG.warn("unused text tensors in {}: {}", store.source(), unused);
      CpuDecoder cpu = null;
      if (vector && !device.isGpu() && dtype == DataType.FLOAT32) {
        if (!vectorApiPresent()) {
          LOG.warn("decode runs on libtorch: start the JVM with --add-modules jdk.incubator.vector for the faster CPU kernel");
        } else {
          String[] why = new String[1];
          cpu = CpuDecoder.create(c, model, lmHead, cache, why);
          if (cpu == null) LOG.warn("decode runs on libtorch: {}", why[0]);
        }
      }
      return new Qwen3ForCausalLM(c, manager, model, lmHead, tied, cache, dtype, List.copyOf(unused), cpu);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /**
   * Whether the output projection is embed_tokens: yes when lm_head.weight is absent (the tied export), or when the
   * config ties them (HF then ignores the stored copy; a copy that differs is logged as a suspect export).
   */
  private static boolean tiesLmHead(TensorStore store, Qwen3Config c, ByteBuffer embed) {
    String name = "lm_head.weight";
    if (!store.has(name)) {
      if (!c.tieWordEmbeddings()) {
        LOG.warn("tie_word_embeddings is false but {} is absent: using embed_tokens as the lm_head", name);
      }
      return true;
    }
    if (!c.tieWordEmbeddings()) return false;
    ByteBuffer head = store.float32(name, c.vocabSize(), c.hiddenSize());
    if (!head.duplicate().rewind().equals(embed.duplicate().rewind())) {
      LOG.warn("{} differs from embed_tokens.weight; tie_word_embeddings is true, so embed_tokens is used (as HF does)",
          name);
    }
    return true;
  }

  /** Checked here, not in VectorOps, whose class cannot even initialize without the module. */
  private static boolean vectorApiPresent() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  /** Which code runs decode steps: "vector" (the Java CPU kernel) or "torch". */
  public String decodeKernel() {
    return cpuDecoder != null ? "vector" : "torch";
  }

  private static Device pickDevice(DecoderOptions opts) {
    if (opts.device().equals("cuda")) {
      if (Engine.getEngine("PyTorch").getGpuCount() > 0) return Device.gpu();
      LOG.warn("device cuda requested but no GPU is visible to PyTorch; falling back to cpu");
    }
    return Device.cpu();
  }

  /** The arrays one decode step reads in full: every layer's matrices and norms, the final norm, the lm_head. */
  private List<NDArray> decodeWeights() {
    List<NDArray> out = new java.util.ArrayList<>();
    for (Qwen3DecoderLayer l : model.layers) {
      // the layer norms' weights live inside qkvProj and gateUpProj
      out.addAll(List.of(l.selfAttn.qkvProj, l.selfAttn.qkNormWeight, l.selfAttn.oProj, l.mlp.gateUpProj, l.mlp.downProj));
    }
    out.add(model.norm.weight);
    out.add(lmHead);
    return out;
  }

  /** Bytes of weights one decode step reads (what bounds decode speed at batch 1). */
  public long weightBytesPerToken() {
    long bytes = 0;
    for (NDArray a : decodeWeights()) bytes += a.size() * a.getDataType().getNumOfBytes();
    return bytes;
  }

  /**
   * Seconds libtorch needs to read those weights once (a full {@code sum} of each), best of {@code repeats}: with
   * {@link #weightBytesPerToken()} it gives the memory bandwidth that bounds a decode step.
   */
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

  /** Whether the output projection is embed_tokens itself (tied) rather than a separate lm_head.weight. */
  public boolean lmHeadTied() {
    return tied;
  }

  /** Text tensors in the checkpoint that the model did not read (normally none). */
  public List<String> unusedTensors() {
    return unusedTensors;
  }

  public Qwen3Config config() {
    return config;
  }

  @Override
  public int vocabSize() {
    return config.vocabSize();
  }

  @Override
  public int hiddenSize() {
    return config.hiddenSize();
  }

  @Override
  public int slots() {
    return cache.slots;
  }

  @Override
  public int maxSeqLen() {
    return cache.maxSeqLen;
  }

  @Override
  public int length(int slot) {
    checkSlot(slot);
    return cache.length(slot);
  }

  @Override
  public float[] embed(int[] ids) {
    checkOpen();
    for (int id : ids) checkId(id);
    return model.embed(ids);
  }

  @Override
  public float[] prefill(int slot, float[] inputEmbeds, int len) {
    checkOpen();
    checkSlot(slot);
    int h = hiddenSize();
    if (len < 1 || len > maxSeqLen()) {
      throw new IllegalArgumentException("prefill length must be in [1, " + maxSeqLen() + "], got " + len);
    }
    if (inputEmbeds == null || inputEmbeds.length != (long) len * h) {
      throw new IllegalArgumentException(
          "inputEmbeds must hold len*hidden = " + len + "*" + h + " floats, got "
              + (inputEmbeds == null ? "null" : inputEmbeds.length));
    }
    cache.setLength(slot, 0); // a failure half-way leaves an empty slot, never a half-written one
    float[] logits = null;
    for (int start = 0; start < len; start += PREFILL_CHUNK) {
      int count = Math.min(PREFILL_CHUNK, len - start);
      try (Step step = Step.prefill(manager, slot, start, count, model.rotaryEmb)) {
        float[] rows = Arrays.copyOfRange(inputEmbeds, start * h, (start + count) * h);
        NDArray x = input(step, rows, count);
        NDArray hidden = model.forward(x, step, cache);
        if (start + count == len) {
          logits = logits(hidden.get(count - 1).reshape(1, h))[0];
        }
      }
    }
    cache.setLength(slot, len);
    return logits;
  }

  /**
   * Prefills several prompts: those of at most {@link #PREFILL_CHUNK} tokens are stacked into passes of up to
   * {@link #PREFILL_BATCH_ROWS} rows, so every weight matrix is multiplied once for all of them (the attention is
   * still per prompt); longer prompts run alone in chunks. Same results as prefilling one by one.
   */
  @Override
  public float[][] prefill(int[] slots, float[][] inputEmbeds, int[] lens) {
    checkOpen();
    int n = slots.length;
    if (inputEmbeds.length != n || lens.length != n) {
      throw new IllegalArgumentException("prefill needs as many embeddings and lengths as slots");
    }
    boolean[] seen = new boolean[slots()];
    int h = hiddenSize();
    for (int i = 0; i < n; i++) {
      checkSlot(slots[i]);
      if (seen[slots[i]]) throw new IllegalArgumentException("slot " + slots[i] + " appears twice in one prefill");
      seen[slots[i]] = true;
      if (lens[i] < 1 || lens[i] > maxSeqLen()) {
        throw new IllegalArgumentException("prefill length must be in [1, " + maxSeqLen() + "], got " + lens[i]);
      }
      if (inputEmbeds[i] == null || inputEmbeds[i].length != (long) lens[i] * h) {
        throw new IllegalArgumentException("inputEmbeds[" + i + "] must hold len*hidden = " + lens[i] + "*" + h
            + " floats");
      }
    }
    float[][] out = new float[n][];
    List<Integer> group = new java.util.ArrayList<>();
    int rows = 0;
    for (int i = 0; i <= n; i++) {
      boolean flush = i == n || lens[i] > PREFILL_CHUNK || rows + lens[i] > PREFILL_BATCH_ROWS;
      if (flush && !group.isEmpty()) {
        prefillGroup(group, slots, inputEmbeds, lens, out);
        group.clear();
        rows = 0;
      }
      if (i == n) break;
      if (lens[i] > PREFILL_CHUNK) {
        out[i] = prefill(slots[i], inputEmbeds[i], lens[i]);
      } else {
        group.add(i);
        rows += lens[i];
      }
    }
    return out;
  }

  /** One stacked pass over prompts {@code idx} (each at most one chunk long). */
  private void prefillGroup(List<Integer> idx, int[] slots, float[][] embeds, int[] lens, float[][] out) {
    if (idx.size() == 1) {
      int i = idx.get(0);
      out[i] = prefill(slots[i], embeds[i], lens[i]);
      return;
    }
    int h = hiddenSize();
    int m = idx.size();
    int[] gSlots = new int[m];
    int[] gLens = new int[m];
    int total = 0;
    for (int j = 0; j < m; j++) {
      gSlots[j] = slots[idx.get(j)];
      gLens[j] = lens[idx.get(j)];
      total += gLens[j];
      cache.setLength(gSlots[j], 0); // a failure half-way leaves empty slots, never half-written ones
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
      NDArray lastIdx = step.manager.create(last);
      if (!lastIdx.getDevice().equals(hidden.getDevice())) lastIdx = lastIdx.toDevice(hidden.getDevice(), false);
      logits = logits(hidden.get(new NDIndex("{}", lastIdx)));
    }
    for (int j = 0; j < m; j++) {
      cache.setLength(gSlots[j], gLens[j]);
      out[idx.get(j)] = logits[j];
    }
  }

  @Override
  public float[][] decode(int[] slots, int[] ids) {
    checkOpen();
    if (slots == null || ids == null || slots.length != ids.length || slots.length == 0) {
      throw new IllegalArgumentException("decode needs as many ids as slots (at least one)");
    }
    if (slots.length > slots()) {
      throw new IllegalArgumentException("decode batch of " + slots.length + " exceeds " + slots() + " slots");
    }
    boolean[] seen = new boolean[slots()];
    int[] positions = new int[slots.length];
    for (int i = 0; i < slots.length; i++) {
      checkSlot(slots[i]);
      if (seen[slots[i]]) throw new IllegalArgumentException("slot " + slots[i] + " appears twice in one decode step");
      seen[slots[i]] = true;
      checkId(ids[i]);
      positions[i] = cache.length(slots[i]);
      if (positions[i] >= maxSeqLen()) {
        throw new IllegalStateException("slot " + slots[i] + " is full (" + maxSeqLen() + " tokens)");
      }
    }
    float[][] out;
    if (cpuDecoder != null) {
      out = cpuDecoder.decode(slots, positions, model.embed(ids));
    } else {
      try (Step step = Step.decode(manager, slots, positions, model.rotaryEmb)) {
        NDArray x = input(step, model.embed(ids), slots.length);
        out = logits(model.forward(x, step, cache));
      }
    }
    for (int i = 0; i < slots.length; i++) cache.setLength(slots[i], positions[i] + 1);
    return out;
  }

  @Override
  public void release(int slot) {
    checkSlot(slot);
    cache.setLength(slot, 0);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    cache.close();
    manager.close();
  }

  private NDArray input(Step step, float[] rows, int count) {
    NDArray x = step.manager.create(rows, new Shape(count, hiddenSize()));
    if (!x.getDevice().equals(lmHead.getDevice())) x = x.toDevice(lmHead.getDevice(), false);
    if (dtype != DataType.FLOAT32) x = x.toType(dtype, false);
    return x;
  }

  /** Final norm + lm_head for hidden rows [B, hidden] → float32 logits [B][vocab]. */
  private float[][] logits(NDArray hidden) {
    NDArray logits = model.norm.forward(hidden).matMul(lmHeadT); // [B, vocab]
    if (logits.getDataType() != DataType.FLOAT32) logits = logits.toType(DataType.FLOAT32, false);
    // Straight from the native buffer into one array per row (toFloatArray + copyOfRange copied every step twice).
    java.nio.FloatBuffer flat = logits.toByteBuffer().asFloatBuffer();
    int b = (int) hidden.getShape().get(0);
    int v = vocabSize();
    float[][] out = new float[b][v];
    for (int i = 0; i < b; i++) flat.get(out[i]);
    return out;
  }

  private void checkSlot(int slot) {
    if (slot < 0 || slot >= slots()) {
      throw new IllegalArgumentException("slot must be in [0, " + slots() + "), got " + slot);
    }
  }

  private void checkId(int id) {
    if (id < 0 || id >= vocabSize()) {
      throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocabSize() + ")");
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("model is closed");
  }
}
