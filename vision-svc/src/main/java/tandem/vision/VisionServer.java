package tandem.vision;

import io.grpc.ServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.logging.Logger;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.security.TlsSettings;
import tandem.common.telemetry.Telemetry;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.grpc.VisionGrpcService;
import tandem.vision.model.VisionOptions;
import tandem.vision.model.VisionTower;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.telemetry.EmbedTrace;
import tandem.vision.telemetry.VisionMetrics;

/**
 * vision-svc: loads the tower, warms it up with one tile, then serves {@code Embed} and reports SERVING on
 * {@code grpc.health.v1}. Built from an injected {@link ServerBuilder} so tests run it in-process.
 */
public final class VisionServer implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(VisionServer.class.getName());

  private final VisionTower tower;
  private final TileBatcher batcher;
  private final Embedder embedder;
  private final ServerBootstrap bootstrap;
  private final VisionMetrics metrics;
  private final Duration shutdownGrace;

  /** The drain grace of servers started without an environment (in-process: tests, the all-in-one server). */
  public static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(ServiceDefaults.DEFAULT_SHUTDOWN_GRACE_SECONDS);

  private VisionServer(VisionTower tower, TileBatcher batcher, Embedder embedder, ServerBootstrap bootstrap,
      VisionMetrics metrics, Duration shutdownGrace) {
    this.tower = tower;
    this.batcher = batcher;
    this.embedder = embedder;
    this.bootstrap = bootstrap;
    this.metrics = metrics;
    this.shutdownGrace = shutdownGrace;
  }

  /** Loads the model, starts the server NOT_SERVING, warms up, then flips health to SERVING. No telemetry. */
  public static VisionServer start(VisionSettings s, ServerBuilder<?> builder) throws IOException {
    return start(s, builder, Telemetry.noop());
  }

  /**
   * As {@link #start(VisionSettings, ServerBuilder)}, traced and measured by {@code telemetry}: its server
   * interceptor joins the caller's trace, the embedder makes the {@code embed} span, and the cache's counters are
   * registered as metrics. The caller keeps ownership of {@code telemetry}. {@link #close()} drains with
   * {@link #DEFAULT_SHUTDOWN_GRACE}.
   */
  public static VisionServer start(VisionSettings s, ServerBuilder<?> builder, Telemetry telemetry) throws IOException {
    return start(s, builder, telemetry, DEFAULT_SHUTDOWN_GRACE);
  }

  /** As above; {@link #close()} lets calls in flight finish for up to {@code shutdownGrace}. */
  public static VisionServer start(VisionSettings s, ServerBuilder<?> builder, Telemetry telemetry,
      Duration shutdownGrace) throws IOException {
    if (shutdownGrace.isNegative()) throw new IllegalArgumentException("shutdown grace must be >= 0, got " + shutdownGrace);
    PreprocessorConfig pre = PreprocessorConfig.fromDir(s.model());
    VisionTower tower = VisionTower.load(s.model(), new VisionOptions(s.device(), s.maxBatchTiles()));
    TileBatcher batcher = new TileBatcher(tower, s.maxBatchTiles(), s.batchWaitMs());
    Embedder embedder = new Embedder(batcher, new EmbeddingCache(s.cacheBytes()),
        new ImageIdRegistry(Embedder.MAX_IMAGE_IDS), pre, s.limits(), tower.modelId(),
        tower.dims().tokensPerTile(), tower.dims().textHiddenSize(), telemetry.tracer(EmbedTrace.SCOPE));
    ServerBootstrap boot;
    try {
      boot = ServerBootstrap.start(builder, s.maxMessageBytes(), List.of(telemetry.serverInterceptor()),
          new VisionGrpcService(embedder));
    } catch (IOException | RuntimeException e) {
      batcher.close();
      tower.close();
      throw e;
    }
    long t0 = System.nanoTime();
    tower.encode(new float[tower.tileFloats()], 1); // first forward pays for kernel selection and allocation
    LOG.info(String.format("vision-svc warm-up: one tile in %.0f ms on %s; model %s", (System.nanoTime() - t0) / 1e6,
        tower.device(), tower.modelId()));
    boot.setServing();
    return new VisionServer(tower, batcher, embedder, boot, VisionMetrics.register(telemetry, embedder.cache(), batcher),
        shutdownGrace);
  }

  /**
   * vision-svc on its network port, as {@code vlm serve vision} and {@link #main} run it: TANDEM_TLS_* on the port
   * (plaintext when unset; with TANDEM_TLS_CLIENT_AUTH=require the handshake admits only callers with a client
   * certificate from TANDEM_TLS_CLIENT_CA, i.e. the gateway), TANDEM_SHUTDOWN_GRACE_SECONDS for {@link #close()}
   * and, when TANDEM_HEALTH_PORT is set, a plaintext port with grpc.health.v1 only, for Kubernetes probes.
   */
  public static VisionServer startNetwork(VisionSettings s, Env env, Telemetry telemetry) throws IOException {
    Duration grace = Draining.graceFromEnv(env); // a bad value fails the start, not the shutdown
    VisionServer server = start(s, TlsSettings.internalServerBuilder(s.port(), env), telemetry, grace);
    try {
      server.bootstrap.serveHealthOnlyFromEnv(env);
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e;
    }
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

  public Embedder embedder() {
    return embedder;
  }

  public TileBatcher batcher() {
    return batcher;
  }

  public VisionTower tower() {
    return tower;
  }

  public void awaitTermination() throws InterruptedException {
    bootstrap.server().awaitTermination();
  }

  /** The grace {@link #close()} gives calls in flight. */
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
   * replica), calls in flight may finish for up to {@code grace}, then the rest are cancelled. Returns true when
   * every call finished within the grace.
   */
  public boolean close(Duration grace) {
    boolean clean = Draining.drain(bootstrap, grace); // the batcher keeps running meanwhile: it finishes the calls
    metrics.close();
    batcher.close();
    if (batcher.stopped()) {
      tower.close();
    } else { // freeing the weights under a running forward pass would crash the process, not stop it
      java.util.logging.Logger.getLogger(VisionServer.class.getName())
          .warning("a vision forward pass still runs after the batcher's stop wait; the tower is left allocated");
      clean = false;
    }
    return clean;
  }

  public static void main(String[] args) throws Exception {
    VisionSettings s;
    try {
      s = VisionSettings.fromArgs(args, System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("vision-svc: error: " + e.getMessage());
      System.exit(2);
      return;
    }
    Telemetry telemetry = Telemetry.fromEnv("tandem-vision", System.getenv(),
        Env.system().integer(ServiceDefaults.ENV_METRICS_PORT, 0), null);
    VisionServer server = startNetwork(s, Env.system(), telemetry);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      telemetry.close();
    }, "vision-svc-shutdown"));
    System.err.println("vision-svc listening on port " + server.port() + " (model " + server.embedder().modelId() + ")");
    server.awaitTermination();
  }
}
