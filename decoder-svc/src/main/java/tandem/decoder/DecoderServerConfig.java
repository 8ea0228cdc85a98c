package tandem.decoder;

import java.nio.file.Path;
import tandem.common.config.CommonSettings;
import tandem.common.config.SettingValues;
import tandem.decoder.model.DecoderOptions;

/**
 * What decoder-svc is started with: {@link #from} the values of {@link DecoderSettings#REGISTRY}
 * (flags over the environment), or built directly by tests and benchmarks. The settings' meanings
 * are in {@link DecoderSettings}.
 *
 * @param model checkpoint folder; null only for a server handed an already loaded model
 * @param device cpu or cuda; cuda falls back to cpu with a warning when no GPU is present
 * @param dtype float32, or float16 on cuda (libtorch's compute type)
 * @param port gRPC port; 0 picks a free one
 * @param maxBatch most sequences decoded together (KV slots)
 * @param maxSeqLen KV capacity per sequence, tokens
 * @param maxQueue requests that may wait for a slot
 * @param maxMessageBytes largest gRPC message
 * @param prefillTokens rows per scheduler step, decoding rows included (chunked prefill)
 * @param waitingServedRatio prompts per decoding stream from which a step prefills them at full
 *     size (see {@link DecoderSettings#WAITING_SERVED_RATIO}); 0 = never
 * @param batchWaitMillis how long an idle decoder's first step waits for more arrivals (see {@link
 *     DecoderSettings#BATCH_WAIT_MS}); 0 = not at all
 * @param threads compute threads of the Java kernel and libtorch; 0 = the core count
 * @param weights CPU weight format: auto, bf16, q8_0 or f32
 * @param kvCacheBytes KV cache budget, bytes; 0 = the default
 * @param kvCacheDtype KV storage: bf16 or f32
 * @param prefixCache whether full KV blocks are reused across requests
 * @param kvPreallocate whether the CPU kernel creates every KV block of the budget at start
 * @param gpuMemoryFraction on CUDA with kvCacheBytes 0, the share of the GPU the decoder may fill
 */
public record DecoderServerConfig(
    Path model,
    String device,
    String dtype,
    int port,
    int maxBatch,
    int maxSeqLen,
    int maxQueue,
    int maxMessageBytes,
    int prefillTokens,
    double waitingServedRatio,
    int batchWaitMillis,
    int threads,
    String weights,
    long kvCacheBytes,
    String kvCacheDtype,
    boolean prefixCache,
    boolean kvPreallocate,
    double gpuMemoryFraction) {

  public DecoderServerConfig {
    if (maxBatch < 1) throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
    if (maxSeqLen < 2)
      throw new IllegalArgumentException("max sequence length must be >= 2, got " + maxSeqLen);
    if (maxQueue < 0) throw new IllegalArgumentException("max queue must be >= 0, got " + maxQueue);
    if (port < 0 || port > 65535)
      throw new IllegalArgumentException("port must be in 0..65535, got " + port);
    if (prefillTokens < 1)
      throw new IllegalArgumentException("prefill tokens must be >= 1, got " + prefillTokens);
    if (batchWaitMillis < 0)
      throw new IllegalArgumentException("batch wait must be >= 0 ms, got " + batchWaitMillis);
    if (!(waitingServedRatio >= 0))
      throw new IllegalArgumentException(
          "waiting-served ratio must be >= 0, got " + waitingServedRatio);
    if (threads < 0)
      throw new IllegalArgumentException(
          "threads must be >= 0 (0 = the core count), got " + threads);
    // checks the weight format and the KV settings with the allowed values (the fields are not
    // assigned yet)
    new DecoderOptions(
        "cpu",
        "float32",
        1,
        1,
        weights,
        kvCacheBytes,
        kvCacheDtype,
        prefixCache,
        gpuMemoryFraction,
        kvPreallocate);
  }

  /** The settings as resolved from flags and environment. */
  public static DecoderServerConfig from(SettingValues v) {
    String model = v.get(CommonSettings.MODEL);
    return new DecoderServerConfig(
        model == null ? null : Path.of(model),
        v.get(CommonSettings.DEVICE),
        v.get(CommonSettings.DTYPE),
        v.get(DecoderSettings.PORT),
        v.get(DecoderSettings.MAX_BATCH),
        v.get(DecoderSettings.MAX_SEQ_LEN),
        v.get(DecoderSettings.MAX_QUEUE),
        v.get(CommonSettings.MAX_MESSAGE_BYTES),
        v.get(DecoderSettings.PREFILL_CHUNK_TOKENS),
        v.get(DecoderSettings.WAITING_SERVED_RATIO),
        v.get(DecoderSettings.BATCH_WAIT_MS),
        v.get(DecoderSettings.THREADS),
        v.get(DecoderSettings.WEIGHTS),
        v.get(DecoderSettings.KV_CACHE_BYTES),
        v.get(DecoderSettings.KV_CACHE_DTYPE),
        v.get(DecoderSettings.PREFIX_CACHE),
        v.get(DecoderSettings.KV_PREALLOCATE),
        v.get(DecoderSettings.GPU_MEMORY_FRACTION));
  }

  /**
   * The batch and queue limits given, every other setting (threads, weights, KV cache) at its
   * default: what tests and benchmarks vary.
   */
  public static DecoderServerConfig of(
      Path model,
      String device,
      String dtype,
      int port,
      int maxBatch,
      int maxSeqLen,
      int maxQueue,
      int maxMessageBytes,
      int prefillTokens) {
    return new DecoderServerConfig(
        model,
        device,
        dtype,
        port,
        maxBatch,
        maxSeqLen,
        maxQueue,
        maxMessageBytes,
        prefillTokens,
        DecoderSettings.WAITING_SERVED_RATIO.defaultValue(),
        DecoderSettings.BATCH_WAIT_MS.defaultValue(),
        DecoderSettings.THREADS.defaultValue(),
        DecoderSettings.WEIGHTS.defaultValue(),
        DecoderSettings.KV_CACHE_BYTES.defaultValue(),
        DecoderSettings.KV_CACHE_DTYPE.defaultValue(),
        DecoderSettings.PREFIX_CACHE.defaultValue(),
        DecoderSettings.KV_PREALLOCATE.defaultValue(),
        DecoderSettings.GPU_MEMORY_FRACTION.defaultValue());
  }

  /**
   * The same settings for the checkpoint in {@code dir} (a Hub id the caller resolved to its
   * folder).
   */
  public DecoderServerConfig withModel(Path dir) {
    return new DecoderServerConfig(
        dir,
        device,
        dtype,
        port,
        maxBatch,
        maxSeqLen,
        maxQueue,
        maxMessageBytes,
        prefillTokens,
        waitingServedRatio,
        batchWaitMillis,
        threads,
        weights,
        kvCacheBytes,
        kvCacheDtype,
        prefixCache,
        kvPreallocate,
        gpuMemoryFraction);
  }

  /** What the model is loaded with. */
  public DecoderOptions options() {
    return new DecoderOptions(
        device,
        dtype,
        maxBatch,
        maxSeqLen,
        weights,
        kvCacheBytes,
        kvCacheDtype,
        prefixCache,
        gpuMemoryFraction,
        kvPreallocate);
  }
}
