package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;

/** {@code vlm serve decoder}: decoder-svc alone. Each flag overrides its environment variable (docs/decoder-svc.md). */
@Command(
    name = "decoder",
    mixinStandardHelpOptions = true,
    description = {
      "Serve DecoderService.Generate (Qwen3 with KV cache and continuous batching) for one checkpoint.",
      "On SIGTERM it drains: health NOT_SERVING, new calls UNAVAILABLE, streams in flight finish within"
          + " $TANDEM_SHUTDOWN_GRACE_SECONDS (default " + ServiceDefaults.DEFAULT_SHUTDOWN_GRACE_SECONDS + ")."
    })
public final class ServeDecoderCommand implements Callable<Integer> {
  @Option(names = "--model", description = "Checkpoint folder or Hub repo id org/name[@rev] (default: $TANDEM_MODEL).")
  Path model;

  @Option(names = "--port", description = "Port; 0 picks a free one (default: $TANDEM_PORT or " + ServiceDefaults.DECODER_PORT + ").")
  Integer port;

  @Option(names = "--device", description = "cpu or cuda; cuda falls back to cpu when no GPU is visible (default: $TANDEM_DEVICE or cpu).")
  String device;

  @Option(names = "--dtype", description = "float32, or float16 on cuda (default: $TANDEM_DTYPE or float32).")
  String dtype;

  @Option(names = "--max-batch", description = "Most sequences running together (rows of a decode step); reserves no memory on the CPU kernel (default: $TANDEM_DECODER_MAX_BATCH or " + ServiceDefaults.DEFAULT_DECODER_MAX_BATCH + ").")
  Integer maxBatch;

  @Option(names = "--max-seq-len", description = "Longest sequence, tokens (prompt + generated) (default: $TANDEM_DECODER_MAX_SEQ_LEN or " + ServiceDefaults.DEFAULT_DECODER_MAX_SEQ_LEN + ").")
  Integer maxSeqLen;

  @Option(names = "--max-queue", description = "Requests that may wait for a slot (default: $TANDEM_DECODER_MAX_QUEUE or " + ServiceDefaults.DEFAULT_DECODER_MAX_QUEUE + ").")
  Integer maxQueue;

  @Option(names = {"--prefill-chunk-tokens", "--prefill-tokens"}, description = "Rows per scheduler step, decoding rows included: pending prompts get the rest (chunked prefill); smaller keeps running streams smoother, larger gives new prompts their first token sooner (default: $TANDEM_DECODER_PREFILL_TOKENS or " + ServiceDefaults.DEFAULT_DECODER_PREFILL_TOKENS + ").")
  Integer prefillTokens;

  @Option(names = "--kv-cache-bytes", description = "KV cache budget in bytes, suffixes k/m/g allowed; the CPU kernel's block pool never grows past it (default: $TANDEM_DECODER_KV_CACHE_BYTES or " + (ServiceDefaults.DEFAULT_DECODER_KV_CACHE_BYTES >> 20) + "m).")
  String kvCacheBytes;

  @Option(names = "--kv-cache-dtype", description = "KV storage on the CPU kernel: bf16 or f32 (default: $TANDEM_DECODER_KV_CACHE_DTYPE or " + ServiceDefaults.DEFAULT_DECODER_KV_CACHE_DTYPE + ").")
  String kvCacheDtype;

  @Option(names = "--prefix-cache", negatable = true, description = "Reuse the KV of a prompt's cached prefix (system prompt, image, earlier turns); --no-prefix-cache turns it off (default: $TANDEM_DECODER_PREFIX_CACHE or " + ServiceDefaults.DEFAULT_DECODER_PREFIX_CACHE + ").")
  Boolean prefixCache;

  @Option(names = "--threads", description = "Compute threads of the CPU kernel and libtorch; 0 = the core count (default: $TANDEM_DECODER_THREADS or 0).")
  Integer threads;

  @Option(names = "--weights", description = "CPU weight format: auto (the checkpoint's), bf16, q8_0 or f32 (default: $TANDEM_DECODER_WEIGHTS or auto).")
  String weights;

  @Option(names = "--max-message-bytes", description = "Largest gRPC message (default: $TANDEM_MAX_MESSAGE_BYTES or " + ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES + ").")
  Integer maxMessageBytes;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Override
  public Integer call() throws Exception {
    DecoderServerConfig env;
    try {
      env = DecoderServerConfig.fromEnv(Env.system());
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Path m = model != null ? model : env.model();
    if (m == null) throw new UserError("give --model DIR or set " + ServiceDefaults.ENV_MODEL);
    m = ModelArg.resolve(m.toString());
    if (!Files.isRegularFile(m.resolve("config.json"))) {
      throw new UserError("--model " + m + " is not a checkpoint folder (no config.json)");
    }
    DecoderServerConfig c;
    try {
      c = new DecoderServerConfig(m,
          device != null ? device : env.device(),
          dtype != null ? dtype : env.dtype(),
          port != null ? port : env.port(),
          maxBatch != null ? maxBatch : env.maxBatch(),
          maxSeqLen != null ? maxSeqLen : env.maxSeqLen(),
          maxQueue != null ? maxQueue : env.maxQueue(),
          maxMessageBytes != null ? maxMessageBytes : env.maxMessageBytes(),
          prefillTokens != null ? prefillTokens : env.prefillTokens(),
          threads != null ? threads : env.threads(),
          weights != null ? weights : env.weights(),
          kvCacheBytes != null ? parseBytes(kvCacheBytes) : env.kvCacheBytes(),
          kvCacheDtype != null ? kvCacheDtype : env.kvCacheDtype(),
          prefixCache != null ? prefixCache : env.prefixCache());
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Telemetry telemetry = Telemetry.fromEnv("tandem-decoder", System.getenv(),
        Env.system().integer(ServiceDefaults.ENV_METRICS_PORT, 0), null);
    DecoderServer s;
    try {
      s = DecoderServer.start(c, List.of(), telemetry, connections.env());
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      s.close();
      telemetry.close();
    }, "decoder-shutdown"));
    System.err.println("decoder: serving DecoderService on port " + s.port() + " (" + c.device() + ", "
        + c.maxBatch() + " sequences of up to " + c.maxSeqLen() + " tokens, " + m + ")");
    s.awaitTermination();
    return 0;
  }

  /** "512m", "2g", "65536": bytes. */
  static long parseBytes(String s) {
    String t = s.trim().toLowerCase(java.util.Locale.ROOT);
    long unit = 1;
    if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
      unit = switch (t.charAt(t.length() - 1)) {
        case 'k' -> 1L << 10;
        case 'm' -> 1L << 20;
        default -> 1L << 30;
      };
      t = t.substring(0, t.length() - 1);
    }
    try {
      long v = Long.parseLong(t);
      if (v < 0) throw new NumberFormatException();
      return Math.multiplyExact(v, unit);
    } catch (NumberFormatException | ArithmeticException e) {
      throw new UserError("--kv-cache-bytes must be a byte count such as 536870912, 512m or 2g, got '" + s + "'");
    }
  }
}
