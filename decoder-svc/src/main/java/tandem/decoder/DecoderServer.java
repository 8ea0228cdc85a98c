package tandem.decoder;

import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.generate.GenerationDefaults;
import tandem.decoder.generate.Scheduler;
import tandem.decoder.generate.SchedulerMetrics;
import tandem.decoder.grpc.DecoderGrpcService;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.decoder.model.ComputeThreads;
import tandem.decoder.telemetry.DecoderTelemetry;

/**
 * decoder-svc: one model per process behind {@code DecoderService}, with health and reflection. Health turns SERVING
 * only after the weights are loaded and a warm-up request (one prefill, one decode step) went through the scheduler.
 */
public final class DecoderServer implements AutoCloseable {
  private static final Logger log = Logger.getLogger(DecoderServer.class.getName());

  private final CausalLm model;
  private final Scheduler scheduler;
  private final ServerBootstrap bootstrap;
  private final DecoderTelemetry telemetry;
  private final Duration shutdownGrace;

  private DecoderServer(CausalLm model, Scheduler scheduler, ServerBootstrap bootstrap, DecoderTelemetry telemetry,
      Duration shutdownGrace) {
    this.model = model;
    this.scheduler = scheduler;
    this.bootstrap = bootstrap;
    this.telemetry = telemetry;
    this.shutdownGrace = shutdownGrace;
  }

  /** How long close() waits for a forward pass in flight before it gives up freeing the model. */
  static final Duration SCHEDULER_STOP_WAIT = Duration.ofMinutes(5);

  /** The drain grace of servers started without an environment (in-process: tests, the all-in-one server). */
  public static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(ServiceDefaults.DEFAULT_SHUTDOWN_GRACE_SECONDS);

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
      if (mc.text() == null) throw new IllegalArgumentException(dir + "/config.json has no text model");
      return new ModelInfo(GenerationDefaults.fromDir(dir), mc.text().maxPositionEmbeddings(), mc.imageTokenId());
    }
  }

  /** Loads the checkpoint named by {@code config.model()} and serves it on {@code config.port()}. */
  public static DecoderServer start(DecoderServerConfig config, List<ServerInterceptor> interceptors)
      throws IOException, InterruptedException {
    return start(config, interceptors, Telemetry.noop());
  }

  /**
   * As {@link #start(DecoderServerConfig, List)}, traced and measured by {@code telemetry} (its server interceptor
   * is added to {@code interceptors}); the caller keeps ownership of {@code telemetry}.
   */
  public static DecoderServer start(DecoderServerConfig config, List<ServerInterceptor> interceptors,
      Telemetry telemetry) throws IOException, InterruptedException {
    return start(config, interceptors, telemetry, Env.system());
  }

  /**
   * As above, with the network settings from {@code env}: TANDEM_TLS_* on the port (plaintext when unset; with
   * TANDEM_TLS_CLIENT_AUTH=require the handshake admits only callers with a client certificate from
   * TANDEM_TLS_CLIENT_CA, i.e. the gateway), TANDEM_SHUTDOWN_GRACE_SECONDS for {@link #close()} and, when
   * TANDEM_HEALTH_PORT is set, a plaintext port with grpc.health.v1 only, for Kubernetes probes.
   */
  public static DecoderServer start(DecoderServerConfig config, List<ServerInterceptor> interceptors,
      Telemetry telemetry, Env env) throws IOException, InterruptedException {
    if (config.model() == null) {
      throw new IllegalArgumentException("no checkpoint: pass --model DIR or set " + ServiceDefaults.ENV_MODEL);
    }
    Duration grace = Draining.graceFromEnv(env); // a bad value fails the start, not the shutdown
    ModelInfo info = ModelInfo.fromDir(config.model());
    if (config.threads() > 0) ComputeThreads.set(config.threads());
    long t0 = System.nanoTime();
    CausalLm model = Qwen3ForCausalLM.load(config.model(), config.options());
    var kv = model.kvStats();
    log.info(String.format("loaded %s in %.1f s (%d slots x %d tokens; %s)", config.model(),
        (System.nanoTime() - t0) / 1e9, config.maxBatch(), config.maxSeqLen(), kv == null
            ? "KV cache reserved per slot"
            : String.format("KV cache %d blocks of %d tokens, %d MiB of %s, prefix cache %s", kv.capacityBlocks(),
                kv.blockTokens(), kv.capacityBlocks() * kv.blockBytes() >> 20, kv.dtype(),
                model.prefixCaching() ? "on" : "off")));
    DecoderServer server = start(tandem.common.security.TlsSettings.internalServerBuilder(config.port(), env), model,
        info, config, interceptors, telemetry, grace);
    try {
      server.bootstrap.serveHealthOnlyFromEnv(env);
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e;
    }
    return server;
  }

  /** {@code java tandem.decoder.DecoderServer}: configured by the environment only (docs/decoder-svc.md). */
  public static void main(String[] args) throws Exception {
    if (args.length > 0) {
      System.err.println("decoder-svc takes no arguments; configure it with TANDEM_* environment variables "
          + "(docs/decoder-svc.md) or run `vlm serve decoder --help`");
      System.exit(2);
    }
    Telemetry telemetry = Telemetry.fromEnv("tandem-decoder", System.getenv(),
        Env.system().integer(ServiceDefaults.ENV_METRICS_PORT, 0), null);
    DecoderServer server = start(DecoderServerConfig.fromEnv(Env.system()), List.of(), telemetry);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      telemetry.close();
    }, "decoder-shutdown"));
    log.info("decoder-svc serving on port " + server.port());
    server.awaitTermination();
  }

  /**
   * Starts serving an already loaded model: scheduler, gRPC server (NOT_SERVING), warm-up, then SERVING. Takes
   * ownership of {@code model}.
   */
  public static DecoderServer start(ServerBuilder<?> builder, CausalLm model, ModelInfo info,
      DecoderServerConfig config, List<ServerInterceptor> interceptors) throws IOException, InterruptedException {
    return start(builder, model, info, config, interceptors, Telemetry.noop());
  }

  /**
   * As above, traced and measured by {@code telemetry}: its server interceptor is added after {@code interceptors},
   * each request gets a {@code generate} span, and the scheduler's state is exported as gauges. The caller keeps
   * ownership of {@code telemetry}. {@link #close()} drains with {@link #DEFAULT_SHUTDOWN_GRACE}.
   */
  public static DecoderServer start(ServerBuilder<?> builder, CausalLm model, ModelInfo info,
      DecoderServerConfig config, List<ServerInterceptor> interceptors, Telemetry telemetry)
      throws IOException, InterruptedException {
    return start(builder, model, info, config, interceptors, telemetry, DEFAULT_SHUTDOWN_GRACE);
  }

  /** As above; {@link #close()} lets streams in flight finish for up to {@code shutdownGrace}. */
  public static DecoderServer start(ServerBuilder<?> builder, CausalLm model, ModelInfo info,
      DecoderServerConfig config, List<ServerInterceptor> interceptors, Telemetry telemetry, Duration shutdownGrace)
      throws IOException, InterruptedException {
    if (shutdownGrace.isNegative()) throw new IllegalArgumentException("shutdown grace must be >= 0, got " + shutdownGrace);
    Scheduler scheduler = new Scheduler(model,
        new Scheduler.Config(config.maxQueue(), info.contextLength(), config.prefillTokens()));
    SecureRandom seeds = new SecureRandom();
    DecoderTelemetry dt = DecoderTelemetry.create(telemetry, scheduler::metrics);
    DecoderGrpcService service = new DecoderGrpcService(scheduler, info.defaults(), model.hiddenSize(),
        info.imageTokenId(), seeds::nextLong, dt);
    // Last in the list runs first: the tracing interceptor wraps the others, so their time is in the RPC span.
    List<ServerInterceptor> all = new ArrayList<>(interceptors);
    all.add(telemetry.serverInterceptor());
    ServerBootstrap bootstrap;
    try {
      bootstrap = ServerBootstrap.start(builder, config.maxMessageBytes(), all, service);
    } catch (IOException | RuntimeException e) {
      dt.close();
      scheduler.close();
      model.close();
      throw e;
    }
    // a scheduler loop that dies of something it cannot survive turns health NOT_SERVING: Kubernetes replaces the pod
    scheduler.onFailure(bootstrap::enterDraining);
    DecoderServer server = new DecoderServer(model, scheduler, bootstrap, dt, shutdownGrace);
    try {
      long t0 = System.nanoTime();
      // Any in-vocabulary id will do; the first stop id is one.
      int[] stop = info.defaults().stopIds();
      scheduler.warmUp(stop.length > 0 && stop[0] < model.vocabSize() ? stop[0] : 0);
      log.info(String.format("warm-up took %.0f ms", (System.nanoTime() - t0) / 1e6));
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

  /** The grace {@link #close()} gives streams in flight. */
  public Duration shutdownGrace() {
    return shutdownGrace;
  }

  /** {@link #close(Duration)} with the server's grace (TANDEM_SHUTDOWN_GRACE_SECONDS for a network start). */
  @Override
  public void close() {
    close(shutdownGrace);
  }

  /**
   * Drains, then frees the model: health NOT_SERVING, new calls get UNAVAILABLE (the gateway retries another
   * replica), streams in flight keep decoding for up to {@code grace}, then the rest are cancelled (their sequences
   * end and free their KV slots). Returns true when every stream finished within the grace.
   */
  public boolean close(Duration grace) {
    // the scheduler keeps running meanwhile: it is what finishes the streams
    boolean clean = Draining.drain(bootstrap, grace);
    // the forward pass in flight finishes before the model's memory is freed under it
    boolean stopped = scheduler.close(SCHEDULER_STOP_WAIT);
    telemetry.close();
    if (stopped) {
      model.close();
    } else {
      log.warning("the scheduler still runs a forward pass after " + SCHEDULER_STOP_WAIT.toSeconds()
          + " s; the model is left allocated rather than freed under it");
    }
    return clean && stopped;
  }
}
