package tandem.decoder.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.cuda.CudaUtils;
import java.lang.management.MemoryUsage;
import java.nio.ByteBuffer;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.Qwen3Config;
import tandem.common.checkpoint.TensorStore;

/**
 * Qwen3 on libtorch through DJL: {@link Qwen3Model} (one class per HF module) + lm_head + the paged
 * {@link KvCache}, whose blocks {@link KvPool} hands out and shares through the prefix cache
 * exactly as for the Java kernel. The CUDA path (float32 or float16), and on the CPU the float32
 * reference the Java kernel is tested against ({@code -Dtandem.decoder.kernel=torch}). DJL cannot
 * hold bfloat16, so CPU weights and K/V here are float32.
 *
 * <p>libtorch has no paged-attention op that DJL can call, so attention takes each sequence's K and
 * V as one tensor per layer: a view of the cache when its block ids are consecutive (the pool keeps
 * them so where it can), else a gathered copy; it runs over exactly the sequence's length.
 */
final class TorchKernel implements DecodeKernel {
  private static final Logger LOG = LoggerFactory.getLogger(TorchKernel.class);

  private final Qwen3Config config;
  private final NDManager manager;
  private final Qwen3Model model;
  private final NDArray lmHead; // [vocab, hidden]: lm_head, or embed_tokens itself when tied
  private final NDArray lmHeadT; // its transposed view (no copy), for x·Wᵀ
  private final KvCache cache;
  private final KvPool kv;
  private final DataType dtype;

  /** Positions per KV block (vLLM's default). */
  static final int BLOCK_TOKENS = 16;

  /**
   * GPU memory kept free for one pass's activations and libtorch's workspace when the KV budget is
   * sized from the GPU memory fraction.
   */
  static final long GPU_ACTIVATION_HEADROOM = 1L << 30;

  private TorchKernel(
      Qwen3Config config,
      NDManager manager,
      Qwen3Model model,
      NDArray lmHead,
      KvCache cache,
      KvPool kv,
      DataType dtype) {
    this.config = config;
    this.manager = manager;
    this.model = model;
    this.lmHead = lmHead;
    this.lmHeadT = lmHead.transpose();
    this.cache = cache;
    this.kv = kv;
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
      KvPool.Dtype kvDtype = dtype == DataType.FLOAT16 ? KvPool.Dtype.F16 : KvPool.Dtype.F32;
      long blockBytes =
          KvPool.blockBytes(
              c.numHiddenLayers(), c.numKeyValueHeads(), c.headDim(), BLOCK_TOKENS, kvDtype);
      long budget = kvBudget(opts, device);
      int blocks = DecodeKernel.kvBlocks(budget, blockBytes, BLOCK_TOKENS, opts);
      KvPool kv =
          new KvPool(
              c.numHiddenLayers(),
              c.numKeyValueHeads(),
              c.headDim(),
              BLOCK_TOKENS,
              kvDtype,
              opts.slots(),
              blocks,
              false);
      KvCache cache =
          new KvCache(
              manager,
              c.numHiddenLayers(),
              blocks,
              c.numKeyValueHeads(),
              BLOCK_TOKENS,
              c.headDim(),
              dtype);
      LOG.info(
          "libtorch KV cache: {} blocks of {} tokens, {} MiB on {}",
          blocks,
          BLOCK_TOKENS,
          blocks * blockBytes >> 20,
          device);
      return new TorchKernel(c, manager, model, lmHead, cache, kv, dtype);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /**
   * The KV budget in bytes: the one given, else {@link DecoderOptions#DEFAULT_KV_BYTES} on the CPU,
   * else on CUDA {@link #gpuKvBudget} from the device's memory as it is now (the weights loaded).
   */
  private static long kvBudget(DecoderOptions opts, Device device) {
    if (opts.kvCacheBytes() > 0) return opts.kvCacheBytes();
    if (!device.isGpu()) return DecoderOptions.DEFAULT_KV_BYTES;
    MemoryUsage mem = CudaUtils.getGpuMemory(device);
    long budget = gpuKvBudget(mem.getMax(), mem.getCommitted(), opts.gpuMemoryFraction());
    LOG.info(
        "GPU memory: {} MiB in use of {} MiB; KV budget {} MiB (gpu-memory-fraction {})",
        mem.getCommitted() >> 20,
        mem.getMax() >> 20,
        budget >> 20,
        opts.gpuMemoryFraction());
    return budget;
  }

  /**
   * vLLM's rule: the decoder may fill {@code fraction} of the device's {@code total} bytes; what is
   * {@code used} already (its weights, other processes) and {@link #GPU_ACTIVATION_HEADROOM} for a
   * pass's activations come off that, and the KV cache gets the rest (0 when nothing is left).
   */
  static long gpuKvBudget(long total, long used, double fraction) {
    return Math.max(0, (long) (fraction * total) - used - GPU_ACTIVATION_HEADROOM);
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

  /** The KV tensors. */
  KvCache cache() {
    return cache;
  }

  @Override
  public String name() {
    return "torch";
  }

  /**
   * On the process's CPU compute pool ({@link IntraOpPool#shared}, idle here: libtorch computes the
   * passes): the rows' logits are on the host by now, and one after another a step of 8 sampled
   * rows took 8 times one row's processors (0.2 ms each with top-k 50, 0.7 ms with top-k off) on
   * the scheduler thread, while a GPU would wait for the next pass.
   */
  @Override
  public void forEachRow(int n, java.util.function.IntConsumer body) {
    IntraOpPool.shared().parallelFor(n, body);
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
  public int hiddenSize() {
    return config.hiddenSize();
  }

  @Override
  public KvPool kvPool() {
    return kv;
  }

  @Override
  public boolean appendCopy(int slot, PrefixKey key, int reserved) {
    int[] ids = kv.appendCopy(slot, key, reserved);
    if (ids == null) return false;
    cache.copyBlock(ids[0], ids[1]);
    return true;
  }

  @Override
  public float[][] forward(int[] slots, int[] positions, float[] x, int[] logitRows) {
    int n = slots.length;
    for (int r = 0; r < n; r++) kv.ensure(slots[r], positions[r] + 1);
    try (Step step = Step.of(manager, kv, slots, positions, model.rotaryEmb)) {
      NDArray hidden = model.forward(input(step, x, n), step, cache);
      if (logitRows.length == 0) return new float[0][];
      long[] rows = new long[logitRows.length];
      for (int i = 0; i < rows.length; i++) rows[i] = logitRows[i];
      return logits(hidden.get(new NDIndex("{}", step.longs(rows))));
    }
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
