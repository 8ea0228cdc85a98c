package tandem.vision;

import java.io.IOException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.config.Env;
import tandem.common.config.Setting;
import tandem.common.config.SettingValues;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.hub.ModelResolver;
import tandem.common.telemetry.Telemetry;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.config.VisionSettings;
import tandem.vision.embed.EmbedLimits;
import tandem.vision.embed.Embedder;
import tandem.vision.grpc.VisionGrpcService;
import tandem.vision.model.VisionOptions;
import tandem.vision.model.VisionTower;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.telemetry.EmbedTrace;
import tandem.vision.telemetry.VisionMetrics;

/**
 * vision-svc: loads the tower, warms it up with one tile, then serves {@code Embed} and reports
 * SERVING on {@code grpc.health.v1}. Hosted by a {@link ServerHost}, so tests run it in-process and
 * {@code vlm serve vision} on its network port.
 */
public final class VisionServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(VisionServer.class);

  private final VisionTower tower;
  private final TileBatcher batcher;
  private final Embedder embedder;
  private final ServerBootstrap bootstrap;
  private final VisionMetrics metrics;
  private final ServerHost host;

  private VisionServer(
      VisionTower tower,
      TileBatcher batcher,
      Embedder embedder,
      ServerBootstrap bootstrap,
      VisionMetrics metrics,
      ServerHost host) {
    this.tower = tower;
    this.batcher = batcher;
    this.embedder = embedder;
    this.bootstrap = bootstrap;
    this.metrics = metrics;
    this.host = host;
  }

  /**
   * Loads the model, starts the server NOT_SERVING on {@code host}, warms up, then flips health to
   * SERVING. The host's telemetry traces and measures it (its server interceptor joins the caller's
   * trace, the embedder makes the {@code embed} span, the cache's and batcher's counters become
   * metrics); the caller keeps ownership of it. {@link #close()} drains with the host's grace.
   */
  public static VisionServer start(VisionServerConfig s, ServerHost host) throws IOException {
    PreprocessorConfig pre = PreprocessorConfig.fromDir(s.model());
    VisionTower tower =
        VisionTower.load(s.model(), new VisionOptions(s.device(), s.maxBatchTiles()));
    TileBatcher batcher = new TileBatcher(tower, s.maxBatchTiles(), s.batchWaitMs());
    Embedder embedder =
        new Embedder(
            batcher,
            new EmbeddingCache(s.cacheBytes()),
            new ImageIdRegistry(Embedder.MAX_IMAGE_IDS),
            pre,
            s.limits(),
            tower.modelId(),
            tower.dims().tokensPerTile(),
            tower.dims().textHiddenSize(),
            host.telemetry().tracer(EmbedTrace.SCOPE));
    ServerBootstrap boot;
    try {
      boot = host.start(s.maxMessageBytes(), new VisionGrpcService(embedder));
    } catch (IOException | RuntimeException e) {
      batcher.close();
      tower.close();
      throw e;
    }
    long t0 = System.nanoTime();
    tower.encode(
        new float[tower.tileFloats()], 1); // first forward pays for kernel selection and allocation
    double warmUpMs = (System.nanoTime() - t0) / 1e6;
    boot.setServing();
    EmbedLimits l = s.limits();
    LOG.info(
        String.format(
            Locale.ROOT,
            "vision-svc serving %s: model %s on %s, %d tiles per batch (wait %d ms), cache %s,"
                + " images up to %s bytes and %d pixels, %d per request, longest wait %d s; warm-up"
                + " tile %.0f ms",
            boot.port() < 0 ? "in-process" : "on port " + boot.port(),
            tower.modelId(),
            tower.device(),
            s.maxBatchTiles(),
            s.batchWaitMs(),
            Setting.bytesText(s.cacheBytes()),
            Setting.bytesText(l.maxImageBytes()),
            l.maxImagePixels(),
            l.maxImages(),
            l.maxWaitSeconds(),
            warmUpMs));
    return new VisionServer(
        tower,
        batcher,
        embedder,
        boot,
        VisionMetrics.register(host.telemetry(), embedder.cache(), batcher),
        host);
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
    return host.shutdownGrace();
  }

  /**
   * Drains with the host's grace (TANDEM_SHUTDOWN_GRACE_SECONDS for a network host), then frees the
   * model.
   */
  @Override
  public void close() {
    release(host.drain(bootstrap));
  }

  /**
   * Drains, then frees the model: health NOT_SERVING, new calls get UNAVAILABLE (the gateway
   * retries another replica), calls in flight may finish for up to {@code grace}, then the rest are
   * cancelled. Returns true when every call finished within the grace.
   */
  public boolean close(Duration grace) {
    return release(Draining.drain(bootstrap, grace));
  }

  /**
   * After the drain (the batcher kept running meanwhile: it finished the calls) the batcher stops,
   * then the tower.
   */
  private boolean release(boolean clean) {
    metrics.close();
    batcher.close();
    if (batcher.stopped()) {
      tower.close();
    } else { // freeing the weights under a running forward pass would crash the process, not stop
      // it
      LOG.warn(
          "a vision forward pass still runs after the batcher's stop wait; the tower is left"
              + " allocated");
      clean = false;
    }
    return clean;
  }

  /**
   * {@code --flag value} or {@code --flag=value} pairs, by flag name; {@link VisionSettings} checks
   * the names.
   */
  static Map<String, String> flags(String[] args) {
    Map<String, String> flags = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || a.length() == 2) {
        throw new IllegalArgumentException("unexpected argument '" + a + "' (give --flag value)");
      }
      int eq = a.indexOf('=');
      if (eq > 0) {
        flags.put(a.substring(2, eq), a.substring(eq + 1));
      } else if (i + 1 < args.length) {
        flags.put(a.substring(2), args[++i]);
      } else {
        throw new IllegalArgumentException(a + " needs a value");
      }
    }
    return flags;
  }

  /**
   * vision-svc alone: {@link VisionSettings}'s flags over its variables; TANDEM_TLS_* and the rest
   * on the port.
   */
  public static void main(String[] args) throws Exception {
    SettingValues values;
    VisionServerConfig s;
    try {
      values = VisionSettings.REGISTRY.resolve(flags(args), System.getenv());
      String model = values.get(VisionSettings.MODEL);
      s =
          VisionServerConfig.from(
              values, model == null ? null : ModelResolver.resolve(model)); // a Hub id: its folder
    } catch (IllegalArgumentException e) {
      LOG.error("vision-svc: {}", e.getMessage());
      System.exit(2);
      return;
    }
    Telemetry telemetry =
        Telemetry.fromEnv(
            "tandem-vision", System.getenv(), values.get(VisionSettings.METRICS_PORT), null);
    VisionServer server;
    try {
      server = start(s, ServerHost.internal(s.port(), Env.system(), telemetry));
    } catch (IOException | RuntimeException e) {
      telemetry.close();
      throw e;
    }
    ServerHost.closeOnShutdown(server::close, telemetry, "vision-svc-shutdown");
    server.awaitTermination();
  }
}
