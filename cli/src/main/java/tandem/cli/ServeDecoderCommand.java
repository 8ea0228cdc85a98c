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

  @Option(names = "--max-batch", description = "KV slots = most sequences decoded together (default: $TANDEM_DECODER_MAX_BATCH or " + ServiceDefaults.DEFAULT_DECODER_MAX_BATCH + ").")
  Integer maxBatch;

  @Option(names = "--max-seq-len", description = "KV capacity per sequence, tokens (default: $TANDEM_DECODER_MAX_SEQ_LEN or " + ServiceDefaults.DEFAULT_DECODER_MAX_SEQ_LEN + ").")
  Integer maxSeqLen;

  @Option(names = "--max-queue", description = "Requests that may wait for a slot (default: $TANDEM_DECODER_MAX_QUEUE or " + ServiceDefaults.DEFAULT_DECODER_MAX_QUEUE + ").")
  Integer maxQueue;

  @Option(names = "--prefill-tokens", description = "Prompt tokens admitted between two decode steps while others decode (default: $TANDEM_DECODER_PREFILL_TOKENS or " + ServiceDefaults.DEFAULT_DECODER_PREFILL_TOKENS + ").")
  Integer prefillTokens;

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
          weights != null ? weights : env.weights());
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
        + c.maxBatch() + " slots x " + c.maxSeqLen() + " tokens, " + m + ")");
    s.awaitTermination();
    return 0;
  }
}
