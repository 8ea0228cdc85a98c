package tandem.decoder;

import static tandem.common.config.ServiceDefaults.*;

import java.nio.file.Path;
import tandem.common.config.Env;

/**
 * decoder-svc settings. Every field has an environment variable (ServiceDefaults names); the CLI's flags override
 * them. Documented in docs/decoder-svc.md.
 *
 * @param model checkpoint folder (TANDEM_MODEL)
 * @param device cpu or cuda (TANDEM_DEVICE); cuda falls back to cpu with a warning when no GPU is present
 * @param dtype float32 or float16 (cuda only) (TANDEM_DTYPE)
 * @param port gRPC port; 0 picks a free one (TANDEM_PORT)
 * @param maxBatch KV slots = most sequences decoded together (TANDEM_DECODER_MAX_BATCH)
 * @param maxSeqLen KV capacity per slot, tokens (TANDEM_DECODER_MAX_SEQ_LEN)
 * @param maxQueue requests that may wait for a slot (TANDEM_DECODER_MAX_QUEUE)
 * @param maxMessageBytes largest gRPC message (TANDEM_MAX_MESSAGE_BYTES)
 * @param prefillTokens rows per step, decoding rows included (TANDEM_DECODER_PREFILL_TOKENS)
 * @param threads compute threads of the Java kernel and libtorch; 0 = the core count (TANDEM_DECODER_THREADS)
 * @param weights CPU weight format: auto, bf16, q8_0 or f32 (TANDEM_DECODER_WEIGHTS)
 * @param kvCacheBytes KV cache budget, bytes; 0 = the default (TANDEM_DECODER_KV_CACHE_BYTES)
 * @param kvCacheDtype KV storage: bf16 or f32 (TANDEM_DECODER_KV_CACHE_DTYPE)
 * @param prefixCache whether full KV blocks are reused across requests (TANDEM_DECODER_PREFIX_CACHE)
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
    int threads,
    String weights,
    long kvCacheBytes,
    String kvCacheDtype,
    boolean prefixCache) {

  public DecoderServerConfig {
    if (maxBatch < 1) throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
    if (maxSeqLen < 2) throw new IllegalArgumentException("max sequence length must be >= 2, got " + maxSeqLen);
    if (maxQueue < 0) throw new IllegalArgumentException("max queue must be >= 0, got " + maxQueue);
    if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535, got " + port);
    if (prefillTokens < 1) throw new IllegalArgumentException("prefill tokens must be >= 1, got " + prefillTokens);
    if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0 = the core count), got " + threads);
    weights = weights == null ? DEFAULT_DECODER_WEIGHTS : weights;
    tandem.decoder.model.WeightFormat.parse(weights); // fails with the allowed values
    kvCacheDtype = kvCacheDtype == null ? DEFAULT_DECODER_KV_CACHE_DTYPE : kvCacheDtype;
    // checks the KV settings with the allowed values (the fields are not assigned yet: pass the parameters)
    new tandem.decoder.model.DecoderOptions("cpu", "float32", 1, 1, weights, kvCacheBytes, kvCacheDtype, prefixCache);
  }

  /** With the default KV cache (budget, bf16, prefix reuse on). */
  public DecoderServerConfig(Path model, String device, String dtype, int port, int maxBatch, int maxSeqLen,
      int maxQueue, int maxMessageBytes, int prefillTokens, int threads, String weights) {
    this(model, device, dtype, port, maxBatch, maxSeqLen, maxQueue, maxMessageBytes, prefillTokens, threads, weights,
        0, DEFAULT_DECODER_KV_CACHE_DTYPE, DEFAULT_DECODER_PREFIX_CACHE);
  }

  /** What the model is loaded with. */
  public tandem.decoder.model.DecoderOptions options() {
    return new tandem.decoder.model.DecoderOptions(device, dtype, maxBatch, maxSeqLen, weights, kvCacheBytes,
        kvCacheDtype, prefixCache);
  }

  /** With the checkpoint's weight format. */
  public DecoderServerConfig(Path model, String device, String dtype, int port, int maxBatch, int maxSeqLen,
      int maxQueue, int maxMessageBytes, int prefillTokens, int threads) {
    this(model, device, dtype, port, maxBatch, maxSeqLen, maxQueue, maxMessageBytes, prefillTokens, threads,
        DEFAULT_DECODER_WEIGHTS);
  }

  /** With libtorch's default thread count. */
  public DecoderServerConfig(Path model, String device, String dtype, int port, int maxBatch, int maxSeqLen,
      int maxQueue, int maxMessageBytes, int prefillTokens) {
    this(model, device, dtype, port, maxBatch, maxSeqLen, maxQueue, maxMessageBytes, prefillTokens,
        DEFAULT_DECODER_THREADS);
  }

  public static DecoderServerConfig fromEnv(Env env) {
    String model = env.string(ENV_MODEL, null);
    return new DecoderServerConfig(
        model == null ? null : Path.of(model),
        env.string(ENV_DEVICE, "cpu"),
        env.string(ENV_DTYPE, "float32"),
        env.integer(ENV_PORT, DECODER_PORT),
        env.integer(ENV_DECODER_MAX_BATCH, DEFAULT_DECODER_MAX_BATCH),
        env.integer(ENV_DECODER_MAX_SEQ_LEN, DEFAULT_DECODER_MAX_SEQ_LEN),
        env.integer(ENV_DECODER_MAX_QUEUE, DEFAULT_DECODER_MAX_QUEUE),
        env.integer(ENV_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_BYTES),
        env.integer(ENV_DECODER_PREFILL_TOKENS, DEFAULT_DECODER_PREFILL_TOKENS),
        env.integer(ENV_DECODER_THREADS, DEFAULT_DECODER_THREADS),
        env.string(ENV_DECODER_WEIGHTS, DEFAULT_DECODER_WEIGHTS),
        env.longValue(ENV_DECODER_KV_CACHE_BYTES, 0),
        env.string(ENV_DECODER_KV_CACHE_DTYPE, DEFAULT_DECODER_KV_CACHE_DTYPE),
        env.bool(ENV_DECODER_PREFIX_CACHE, DEFAULT_DECODER_PREFIX_CACHE));
  }
}
