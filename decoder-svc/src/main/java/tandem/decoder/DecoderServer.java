package tandem.decoder;

import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.SettingValues;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.generate.GenerationDefaults;
import tandem.decoder.generate.Scheduler;
import tandem.decoder.generate.SchedulerMetrics;
import tandem.decoder.grpc.DecoderGrpcService;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.ComputeThreads;
import tandem.decoder.model.KvStats;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.decoder.telemetry.DecoderTelemetry;

/**
 * decoder-svc: one model per process behind {@code DecoderService}, with health and reflection.
 * Health turns SERVING only after the weights are loaded and a warm-up request (one prefill, one
 * decode step) went through the scheduler. Hosted by a {@link ServerHost}: its builder,
 * interceptors and drain grace, and its telemetry, which the server borrows (whoever created the
 * telemetry closes it, after the server).
 */
public final class DecoderServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DecoderServer.class);

  private final CausalLm model;
  private final Scheduler scheduler;
  private final ServerBootstrap bootstrap;
  private final DecoderTelemetry telemetry;
  private final Duration shutdownGrace;

  private DecoderServer(
      CausalLm model,
      Scheduler scheduler,
      ServerBootstrap bootstrap,
      DecoderTelemetry telemetry,
      Duration shutdownGrace) {
    this.model = model;
    this.scheduler = scheduler;
    this.bootstrap = bootstrap;
    this.telemetry = telemetry;
    this.shutdownGrace = shutdownGrace;
  }

  /** How long close() waits for a forward pass in flight before it gives up freeing the model. */
  static final Duration SCHEDULER_STOP_WAIT = Duration.ofMinutes(5);

  /**
   * What the server needs to know about the checkpoint beyond the model itself.
   *
   * @param defaults generation defaults from generation_config.json
   * @param contextLength max_position_embeddings of the text model
   * @param imageTokenId image_token_id (the splice target when a request leaves it 0)
   */
  public record ModelInfo(GenerationDefaults defaults, int contextLength, int imageTokenId) {
    /** Reads config.json and generation_config.json of a checkpoint folder. */
    public static ModelInfo fromDir(Path dir) throws IOException {
      ModelConfig mc = ModelConfig.fromDir(dir);
      if (mc.text() == null)
        throw new IllegalArgumentException(dir + "/config.json has no text model");
      return new ModelInfo(
          GenerationDefaults.fromDir(dir), mc.text().maxPositionEmbeddings(), mc.imageTokenId());
    }
  }

  /**
   * Loads the checkpoint named by {@code config.model()} and serves it on {@code host} (for a
   * network start, {@link ServerHost#internal}: TLS, connection limits, drain grace and health-only
   * port from the environment).
   */
  public static DecoderServer start(DecoderServerConfig config, ServerHost host)
      throws IOException, InterruptedException {
    if (config.model() == null) {
      throw new IllegalArgumentException(
          "no checkpoint: pass --model DIR or set " + CommonSettings.MODEL.env());
    }
    ModelInfo info = ModelInfo.fromDir(config.model());
    if (config.threads() > 0) ComputeThreads.set(config.threads());
    long t0 = System.nanoTime();
    Qwen3ForCausalLM model = Qwen3ForCausalLM.load(config.model(), config.options());
    log.info(
        "loaded {} in {} s", config.model(), String.format("%.1f", (System.nanoTime() - t0) / 1e9));
    return start(model, info, config, host);
  }

  private static String kvText(KvStats kv) {
    if (kv == null) return "reserved per slot (max batch x max seq len)";
    return kv.capacityBlocks()
        + " blocks of "
        + kv.blockTokens()
        + " tokens, "
        + ((long) kv.capacityBlocks() * kv.blockBytes() >> 20)
        + " MiB of "
        + kv.dtype();
  }

  /**
   * {@code java tandem.decoder.DecoderServer}: configured by the environment only ({@link
   * DecoderSettings}, and the network settings every server reads).
   */
  public static void main(String[] args) throws Exception {
    if (args.length > 0) {
      log.error(
          "decoder-svc takes no arguments; configure it with TANDEM_* environment variables "
              + "(docs/decoder-svc.md) or run `vlm serve decoder --help`");
      System.exit(2);
    }
    SettingValues values = DecoderSettings.REGISTRY.resolve(System.getenv());
    DecoderServerConfig config = DecoderServerConfig.from(values);
    Telemetry telemetry =
        Telemetry.fromEnv(
            "tandem-decoder", System.getenv(), values.get(CommonSettings.METRICS_PORT), null);
    DecoderServer server;
    try {
      server = start(config, ServerHost.internal(config.port(), Env.system(), telemetry));
    } catch (IOException | RuntimeException | InterruptedException e) {
      telemetry.close();
      throw e;
    }
    ServerHost.closeOnShutdown(server::close, telemetry, "decoder-shutdown");
    server.awaitTermination();
  }

  /**
   * Starts serving an already loaded model (the checkpoint's, or a test's fake): scheduler, gRPC
   * server (NOT_SERVING), warm-up, then SERVING. Each request gets a {@code generate} span and the
   * scheduler's state is exported as gauges, through the host's telemetry. Takes ownership of
   * {@code model} (closed by {@link #close()} or when the start fails); {@code config.model()} and
   * its load settings are not read.
   */
  public static DecoderServer start(
      CausalLm model, ModelInfo info, DecoderServerConfig config, ServerHost host)
      throws IOException, InterruptedException {
    Scheduler scheduler;
    try {
      scheduler =
          new Scheduler(
              model,
              new Scheduler.Config(
                  config.maxQueue(),
                  info.contextLength(),
                  config.prefillTokens(),
                  DecoderSettings.LIMIT_NAMES,
                  config.waitingServedRatio(),
                  config.batchWaitMillis()));
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    SecureRandom seeds = new SecureRandom();
    DecoderTelemetry dt = DecoderTelemetry.create(host.telemetry(), scheduler::metrics);
    DecoderGrpcService service =
        new DecoderGrpcService(
            scheduler,
            info.defaults(),
            model.hiddenSize(),
            info.imageTokenId(),
            seeds::nextLong,
            dt);
    ServerBootstrap bootstrap;
    try {
      bootstrap = host.start(config.maxMessageBytes(), service);
    } catch (IOException | RuntimeException e) {
      dt.close();
      scheduler.close();
      model.close();
      throw e;
    }
    // a scheduler loop that dies of something it cannot survive turns health NOT_SERVING:
    // Kubernetes replaces the pod
    scheduler.onFailure(bootstrap::enterDraining);
    DecoderServer server = new DecoderServer(model, scheduler, bootstrap, dt, host.shutdownGrace());
    try {
      long t0 = System.nanoTime();
      // Any in-vocabulary id will do; the first stop id is one.
      int[] stop = info.defaults().stopIds();
      scheduler.warmUp(stop.length > 0 && stop[0] < model.vocabSize() ? stop[0] : 0);
      long warmUpMs = Math.round((System.nanoTime() - t0) / 1e6);
      log.info(
          "decoder-svc serving {}: device {}, kernel {}, max batch {} x {} tokens, KV cache {},"
              + " prefix cache {}, prefill chunk {} tokens (full-size prompt steps from {}"
              + " prompts per decoding stream), arrivals gathered {} ms, queue {}; warm-up {} ms",
          bootstrap.port() < 0 ? "in-process" : "on port " + bootstrap.port(),
          config.device(),
          model instanceof Qwen3ForCausalLM q
              ? q.kernelDescription()
              : model.getClass().getSimpleName(),
          config.maxBatch(),
          config.maxSeqLen(),
          kvText(model.kvStats()),
          model.prefixCaching() ? "on" : "off",
          config.prefillTokens(),
          config.waitingServedRatio() > 0 ? config.waitingServedRatio() : "never",
          config.batchWaitMillis(),
          config.maxQueue(),
          warmUpMs);
    } catch (RuntimeException | InterruptedException e) {
      server.close();
      throw e;
    }
    bootstrap.setServing();
    return server;
  }

  public int port() {
    return bootstrap.port();
  }

  /** The plaintext health-only port, or 0 when there is none. */
  public int healthPort() {
    io.grpc.Server h = bootstrap.healthOnlyServer();
    return h == null ? 0 : h.getPort();
  }

  /** Active sequences, queue length, KV tokens in use and step timings, for metrics exporters. */
  public SchedulerMetrics metrics() {
    return scheduler.metrics();
  }

  public void awaitTermination() throws InterruptedException {
    bootstrap.server().awaitTermination();
  }

  /** The grace {@link #close()} gives streams in flight: the host's. */
  public Duration shutdownGrace() {
    return shutdownGrace;
  }

  /**
   * {@link #close(Duration)} with the host's grace (TANDEM_SHUTDOWN_GRACE_SECONDS for a network
   * host).
   */
  @Override
  public void close() {
    close(shutdownGrace);
  }

  /**
   * Drains, then frees the model: health NOT_SERVING, new calls get UNAVAILABLE (the gateway
   * retries another replica), streams in flight keep decoding for up to {@code grace}, then the
   * rest are cancelled (their sequences end and free their KV slots). Returns true when every
   * stream finished within the grace. The host's telemetry stays open: its owner closes it.
   */
  public boolean close(Duration grace) {
    // the scheduler keeps running meanwhile: it is what finishes the streams
    boolean clean = Draining.drain(bootstrap, grace);
    // the forward pass in flight finishes before the model's memory is freed under it
    boolean stopped = scheduler.close(SCHEDULER_STOP_WAIT);
    telemetry.close(); // the server's own gauges
    if (stopped) {
      model.close();
    } else {
      log.warn(
          "the scheduler still runs a forward pass after {} s; the model is left allocated rather"
              + " than freed under it",
          SCHEDULER_STOP_WAIT.toSeconds());
    }
    return clean && stopped;
  }
}
