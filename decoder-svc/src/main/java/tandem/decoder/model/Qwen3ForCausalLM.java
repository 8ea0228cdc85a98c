package tandem.decoder.model;

import java.io.IOException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.checkpoint.Qwen3Config;
import tandem.common.checkpoint.TensorStore;

/**
 * HF Qwen3ForCausalLM as a slot engine: the text model of a checkpoint (a vision-language one's
 * {@code model.text_model.*} or a plain causal LM's {@code model.*}), lm_head tied to embed_tokens
 * unless the checkpoint says otherwise, and {@code slots} sequences of up to {@code maxSeqLen}
 * tokens. It validates every call and keeps each slot's length; the arithmetic and the K/V storage
 * are a {@link DecodeKernel}:
 *
 * <ul>
 *   <li>{@link JavaKernel} on the CPU (the default): weights once, in Java arrays, in bf16, q8_0 or
 *       f32; prefill and decode on the same arrays; a block KV cache that grows with the tokens
 *       held.
 *   <li>{@link TorchKernel} on CUDA, and on the CPU when asked for ({@code
 *       -Dtandem.decoder.kernel=torch}), when the JVM lacks {@code --add-modules
 *       jdk.incubator.vector}, or when the model's shapes do not fit the Java kernel.
 * </ul>
 */
public final class Qwen3ForCausalLM implements CausalLm {
  private static final Logger LOG = LoggerFactory.getLogger(Qwen3ForCausalLM.class);

  /**
   * Prompt rows per prefill pass: bounds the activations (and libtorch's [heads, chunk, keys]
   * scores) of a prompt.
   */
  static final int PREFILL_CHUNK = 512;

  /**
   * Rows of one pass over several stacked prompts: larger GEMMs run faster per row on either
   * kernel.
   */
  static final int PREFILL_BATCH_ROWS = 1024;

  /**
   * System property that forces the libtorch kernel ({@code torch}) on the CPU; by default CPU runs
   * on the Java kernel when the JVM has {@code --add-modules jdk.incubator.vector}.
   */
  public static final String KERNEL_PROPERTY = "tandem.decoder.kernel";

  private final Qwen3Config config;
  private final DecodeKernel kernel;
  private final boolean tied;
  private final List<String> unusedTensors;
  private final int slots;
  private final int maxSeqLen;
  private final int[] lengths;
  private final boolean prefixCache;
  private boolean closed;

  private Qwen3ForCausalLM(
      Qwen3Config config,
      DecodeKernel kernel,
      boolean tied,
      List<String> unused,
      DecoderOptions opts) {
    this.config = config;
    this.kernel = kernel;
    this.tied = tied;
    this.unusedTensors = unused;
    this.slots = opts.slots();
    this.maxSeqLen = opts.maxSeqLen();
    this.lengths = new int[opts.slots()];
    this.prefixCache = opts.prefixCache();
  }

  /**
   * Loads the checkpoint folder's text model (config.json + model.safetensors or a sharded index).
   */
  public static Qwen3ForCausalLM load(Path checkpointDir, DecoderOptions opts) throws IOException {
    ModelConfig mc = ModelConfig.fromDir(checkpointDir);
    if (mc.text() == null) {
      throw new IllegalArgumentException(
          checkpointDir + " has no text model (config.json has no Qwen3 text config)");
    }
    try (TensorStore store = TensorStore.open(checkpointDir)) {
      return load(store, mc.text(), mc.textPrefix(), opts);
    }
  }

  /**
   * Builds the model from an open store: {@code prefix} is the text model's ("model." or
   * "model.text_model."); the lm_head is {@code lm_head.weight} when present (and identical to
   * embed_tokens when the config ties them).
   */
  public static Qwen3ForCausalLM load(
      TensorStore store, Qwen3Config c, String prefix, DecoderOptions opts) {
    return load(store, c, prefix, opts, !"torch".equals(System.getProperty(KERNEL_PROPERTY)));
  }

  static Qwen3ForCausalLM load(
      TensorStore store, Qwen3Config c, String prefix, DecoderOptions opts, boolean java) {
    boolean tied = tiesLmHead(store, c, prefix);
    WeightFormat format = resolveWeights(store, prefix, opts);
    String why = null;
    if (!java) {
      why = "-D" + KERNEL_PROPERTY + "=torch";
    } else if (opts.device().equals("cuda") && TorchKernel.gpuAvailable(opts)) {
      why = "device cuda";
    } else if (!vectorApiPresent()) {
      why = "start the JVM with --add-modules jdk.incubator.vector for the Java kernel";
    } else {
      why = JavaKernel.unsupported(c);
    }
    DecodeKernel kernel;
    if (why == null) {
      kernel = JavaKernel.load(store, c, prefix, tied, format, opts);
    } else {
      if (format != WeightFormat.F32 && !opts.device().equals("cuda")) {
        LOG.warn("{} weights need the Java kernel; libtorch runs float32 ({})", format, why);
      } else if (opts.device().equals("cpu")) {
        LOG.warn("decoder runs on libtorch: {}", why);
      }
      kernel = TorchKernel.load(store, c, prefix, tied, opts);
    }
    String textPrefix = prefix;
    List<String> unused =
        store.unused().stream()
            .filter(n -> n.startsWith(textPrefix) || n.startsWith("lm_head."))
            .sorted()
            .collect(Collectors.toList());
    if (!unused.isEmpty()) LOG.warn("unused text tensors in {}: {}", store.source(), unused);
    return new Qwen3ForCausalLM(c, kernel, tied, List.copyOf(unused), opts);
  }

  /**
   * The option's format, or for {@code auto} the checkpoint's: bf16 for a bf16 checkpoint (its
   * values exactly), f32 otherwise (float16 values are not all bfloat16 values).
   */
  static WeightFormat resolveWeights(TensorStore store, String prefix, DecoderOptions opts) {
    WeightFormat f = WeightFormat.parse(opts.weights());
    if (f != null) return f;
    String name = prefix + "embed_tokens.weight";
    return store.has(name) && store.info(name).dtype().equals("BF16")
        ? WeightFormat.BF16
        : WeightFormat.F32;
  }

  /**
   * Whether the output projection is embed_tokens: yes when lm_head.weight is absent (the tied
   * export), or when the config ties them (HF then ignores the stored copy; a copy that differs is
   * logged as a suspect export). The two are compared by digest over streamed rows, so neither is
   * held in memory for it.
   */
  private static boolean tiesLmHead(TensorStore store, Qwen3Config c, String prefix) {
    String name = "lm_head.weight";
    if (!store.has(name)) {
      if (!c.tieWordEmbeddings()) {
        LOG.warn(
            "tie_word_embeddings is false but {} is absent: using embed_tokens as the lm_head",
            name);
      }
      return true;
    }
    if (!c.tieWordEmbeddings()) return false;
    long[] shape = {c.vocabSize(), c.hiddenSize()};
    if (!java.util.Arrays.equals(
        digest(store, name, shape), digest(store, prefix + "embed_tokens.weight", shape))) {
      LOG.warn(
          "{} differs from embed_tokens.weight; tie_word_embeddings is true, so embed_tokens is"
              + " used (as HF does)",
          name);
    }
    store.markUsed(name);
    return true;
  }

  private static byte[] digest(TensorStore store, String name, long[] shape) {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) shape[1] * 4);
    store.readRows(
        name,
        shape,
        (r, row) -> {
          b.clear();
          b.asFloatBuffer().put(row);
          md.update(b.array());
        });
    return md.digest();
  }

  /** Checked here, not in the kernels, whose classes cannot even initialize without the module. */
  private static boolean vectorApiPresent() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  /** The kernel itself. */
  DecodeKernel kernel() {
    return kernel;
  }

  /** Which kernel runs the forward passes: "java" (CPU, Java arrays) or "torch" (libtorch). */
  public String decodeKernel() {
    return kernel.name();
  }

  /**
   * The kernel as the startup log names it: Java (vector width, weight format, threads) or libtorch
   * (device).
   */
  public String kernelDescription() {
    return kernel.describe();
  }

  /** The weight format in memory: "bf16", "q8_0" or "f32" (libtorch: "f32", or "f16" on CUDA). */
  public String weightFormat() {
    return kernel.weights();
  }

  /** Bytes of weights one decode step reads (what bounds decode speed at batch 1). */
  public long weightBytesPerToken() {
    return kernel.weightBytesPerToken();
  }

  /**
   * Seconds the kernel needs to read those weights once the way it reads them (same arrays, threads
   * and instructions; libtorch's {@code sum} on the torch kernel), best of {@code repeats}: the
   * decode floor.
   */
  public double weightReadSeconds(int repeats) {
    return kernel.weightReadSeconds(repeats);
  }

  /** See {@link DecodeKernel#multiplyInCacheSeconds}. */
  public double multiplyInCacheSeconds(int rows, int repeats) {
    return kernel.multiplyInCacheSeconds(rows, repeats);
  }

  @Override
  public KvStats kvStats() {
    return kernel.kvStats();
  }

  @Override
  public int kvBlockTokens() {
    return kernel.kvBlockTokens();
  }

  @Override
  public void forEachRow(int n, IntConsumer body) {
    kernel.forEachRow(n, body);
  }

  @Override
  public int kvShortfall(int slot, int tokens) {
    checkSlot(slot);
    return kernel.kvShortfall(slot, tokens);
  }

  @Override
  public boolean prefixCaching() {
    return prefixCache;
  }

  @Override
  public int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
    checkOpen();
    checkSlot(slot);
    if (lengths[slot] != 0) throw new IllegalStateException("slot " + slot + " is not empty");
    if (!prefixCache) return 0;
    int bt = kernel.kvBlockTokens();
    int blocks = kernel.reuse(slot, keys, Math.min(maxBlocks, maxSeqLen / bt));
    lengths[slot] = blocks * bt;
    return lengths[slot];
  }

  @Override
  public int reuseCopy(int slot, PrefixKey key, int positions, int reserved) {
    checkOpen();
    checkSlot(slot);
    if (!prefixCache) return -1;
    int bt = kernel.kvBlockTokens();
    int held = lengths[slot];
    if (held % bt != 0 || positions <= held || positions >= held + bt || positions >= maxSeqLen) {
      throw new IllegalArgumentException(
          "a copied block holds positions past the "
              + held
              + " the slot holds, inside one block of "
              + bt
              + "; got "
              + positions);
    }
    if (!kernel.appendCopy(slot, key, reserved)) return -1;
    lengths[slot] = positions;
    return positions;
  }

  @Override
  public void offer(int slot, PrefixKey[] keys) {
    checkSlot(slot);
    if (!prefixCache) return;
    int bt = kernel.kvBlockTokens();
    if ((long) keys.length * bt > lengths[slot]) {
      throw new IllegalArgumentException(
          keys.length
              + " blocks offered but slot "
              + slot
              + " holds "
              + lengths[slot]
              + " positions");
    }
    kernel.offer(slot, keys);
  }

  /** Drops the prefix cache's unreferenced blocks (tests; an operator's cache reset). */
  public void clearPrefixCache() {
    kernel.clearPrefixCache();
  }

  @Override
  public boolean chunkedPrefill() {
    return true;
  }

  /** Every part in one forward pass of the kernel: decode rows and prompt chunks together. */
  @Override
  public float[][] extend(int[] slots, float[][] embeds, int[] lens, boolean[] wantLogits) {
    checkOpen();
    int n = slots.length;
    if (embeds.length != n || lens.length != n || wantLogits.length != n || n == 0) {
      throw new IllegalArgumentException(
          "extend needs as many embeddings, lengths and flags as slots (at least one)");
    }
    boolean[] seen = new boolean[slots()];
    for (int i = 0; i < n; i++) {
      checkSlot(slots[i]);
      if (seen[slots[i]])
        throw new IllegalArgumentException("slot " + slots[i] + " appears twice in one step");
      seen[slots[i]] = true;
      int len = lens[i];
      if (len < 1 || lengths[slots[i]] + len > maxSeqLen) {
        throw new IllegalArgumentException(
            "slot "
                + slots[i]
                + " holds "
                + lengths[slots[i]]
                + " positions and cannot"
                + " take "
                + len
                + " more (at most "
                + maxSeqLen
                + ")");
      }
      if (embeds[i] == null || embeds[i].length != (long) len * hiddenSize()) {
        throw new IllegalArgumentException(
            "embeds[" + i + "] must hold " + len + "*" + hiddenSize() + " floats");
      }
    }
    int[] starts = new int[n];
    for (int i = 0; i < n; i++) starts[i] = lengths[slots[i]];
    float[][] out = kernel.forwardParts(slots, starts, embeds, lens, wantLogits);
    for (int i = 0; i < n; i++) lengths[slots[i]] += lens[i];
    return out;
  }

  /**
   * Whether the output projection is embed_tokens itself (tied) rather than a separate
   * lm_head.weight.
   */
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
    return slots;
  }

  @Override
  public int maxSeqLen() {
    return maxSeqLen;
  }

  @Override
  public int length(int slot) {
    checkSlot(slot);
    return lengths[slot];
  }

  @Override
  public float[] embed(int[] ids) {
    checkOpen();
    for (int id : ids) checkId(id);
    return kernel.embed(ids);
  }

  @Override
  public float[] prefill(int slot, float[] inputEmbeds, int len) {
    checkOpen();
    checkSlot(slot);
    checkPrompt(inputEmbeds, len, "inputEmbeds");
    reset(slot); // a failure half-way leaves an empty slot, never a half-written one
    float[] logits = kernel.prefill(slot, 0, inputEmbeds, len);
    lengths[slot] = len;
    return logits;
  }

  @Override
  public float[][] prefill(int[] slots, float[][] inputEmbeds, int[] lens) {
    checkOpen();
    int n = slots.length;
    if (inputEmbeds.length != n || lens.length != n) {
      throw new IllegalArgumentException("prefill needs as many embeddings and lengths as slots");
    }
    boolean[] seen = new boolean[slots()];
    for (int i = 0; i < n; i++) {
      checkSlot(slots[i]);
      if (seen[slots[i]])
        throw new IllegalArgumentException("slot " + slots[i] + " appears twice in one prefill");
      seen[slots[i]] = true;
      checkPrompt(inputEmbeds[i], lens[i], "inputEmbeds[" + i + "]");
    }
    for (int s : slots) reset(s);
    float[][] out = kernel.prefill(slots, inputEmbeds, lens);
    for (int i = 0; i < n; i++) lengths[slots[i]] = lens[i];
    return out;
  }

  @Override
  public float[][] decode(int[] slots, int[] ids) {
    checkOpen();
    if (slots == null || ids == null || slots.length != ids.length || slots.length == 0) {
      throw new IllegalArgumentException("decode needs as many ids as slots (at least one)");
    }
    if (slots.length > slots()) {
      throw new IllegalArgumentException(
          "decode batch of " + slots.length + " exceeds " + slots() + " slots");
    }
    boolean[] seen = new boolean[slots()];
    int[] positions = new int[slots.length];
    for (int i = 0; i < slots.length; i++) {
      checkSlot(slots[i]);
      if (seen[slots[i]])
        throw new IllegalArgumentException(
            "slot " + slots[i] + " appears twice in one decode step");
      seen[slots[i]] = true;
      checkId(ids[i]);
      positions[i] = lengths[slots[i]];
      if (positions[i] >= maxSeqLen()) {
        throw new IllegalStateException(
            "slot " + slots[i] + " is full (" + maxSeqLen() + " tokens)");
      }
    }
    float[][] out = kernel.decode(slots, positions, kernel.embed(ids));
    for (int i = 0; i < slots.length; i++) lengths[slots[i]] = positions[i] + 1;
    return out;
  }

  @Override
  public void release(int slot) {
    checkSlot(slot);
    reset(slot);
  }

  private void reset(int slot) {
    lengths[slot] = 0;
    kernel.release(slot);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    kernel.close();
  }

  private void checkPrompt(float[] embeds, int len, String what) {
    int h = hiddenSize();
    if (len < 1 || len > maxSeqLen()) {
      throw new IllegalArgumentException(
          "prefill length must be in [1, " + maxSeqLen() + "], got " + len);
    }
    if (embeds == null || embeds.length != (long) len * h) {
      throw new IllegalArgumentException(
          what
              + " must hold len*hidden = "
              + len
              + "*"
              + h
              + " floats, got "
              + (embeds == null ? "null" : embeds.length));
    }
  }

  private void checkSlot(int slot) {
    if (slot < 0 || slot >= slots()) {
      throw new IllegalArgumentException("slot must be in [0, " + slots() + "), got " + slot);
    }
  }

  private void checkId(int id) {
    if (id < 0 || id >= vocabSize()) {
      throw new IllegalArgumentException(
          "token id " + id + " is outside the vocabulary [0, " + vocabSize() + ")");
    }
  }

  private void checkOpen() {
    if (closed) throw new IllegalStateException("model is closed");
  }
}
