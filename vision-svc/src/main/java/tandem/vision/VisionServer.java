package tandem.vision;

import io.grpc.ServerBuilder;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
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

  private VisionServer(VisionTower tower, TileBatcher batcher, Embedder embedder, ServerBootstrap bootstrap,
      VisionMetrics metrics) {
    this.tower = tower;
    this.batcher = batcher;
    this.embedder = embedder;
    this.bootstrap = bootstrap;
    this.metrics = metrics;
  }

  /** Loads the model, starts the server NOT_SERVING, warms up, then flips health to SERVING. No telemetry. */
  public static VisionServer start(VisionSettings s, ServerBuilder<?> builder) throws IOException {
    return start(s, builder, Telemetry.noop());
  }

  /**
   * As {@link #start(VisionSettings, ServerBuilder)}, traced and measured by {@code telemetry}: its server
   * interceptor joins the caller's trace, the embedder makes the {@code embed} span, and the cache's counters are
   * registered as metrics. The caller keeps ownership of {@code telemetry}.
   */
  public static VisionServer start(VisionSettings s, ServerBuilder<?> builder, Telemetry telemetry) throws IOException {
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
    return new VisionServer(tower, batcher, embedder, boot, VisionMetrics.register(telemetry, embedder.cache(), batcher));
  }

  /**
   * vision-svc on its network port, as {@code vlm serve vision} and {@link #main} run it: TANDEM_TLS_* on the port
   * (plaintext when unset; with TANDEM_TLS_CLIENT_AUTH=require the handshake admits only callers with a client
   * certificate from TANDEM_TLS_CLIENT_CA, i.e. the gateway) and, when TANDEM_HEALTH_PORT is set, a plaintext port
   * with grpc.health.v1 only, for Kubernetes probes.
   */
  public static VisionServer startNetwork(VisionSettings s, Env env, Telemetry telemetry) throws IOException {
    VisionServer server = start(s, TlsSettings.internalServerBuilder(s.port(), env), telemetry);
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

  /** Drains: health NOT_SERVING, stop taking calls, let running ones finish (up to 30 s), then free the model. */
  @Override
  public void close() {
    bootstrap.enterDraining();
    bootstrap.server().shutdown();
    try {
      bootstrap.server().awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    bootstrap.server().shutdownNow();
    metrics.close();
    batcher.close();
    tower.close();
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
