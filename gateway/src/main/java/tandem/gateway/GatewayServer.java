package tandem.gateway;

import io.grpc.Grpc;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.backend.Backends;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.routing.Routing;
import tandem.gateway.routing.RoutingSettings;

/**
 * The gateway as its own process: {@code TANDEM_MODEL} (checkpoint folder: tokenizer, chat template, processor
 * config), {@code TANDEM_VISION_ADDR}, {@code TANDEM_DECODER_ADDR} (each {@code host:port} or a comma-separated list;
 * see {@link tandem.gateway.routing.Routing}), {@code TANDEM_PORT}, and {@code TANDEM_HTTP_PORT}
 * for the OpenAI-compatible API and playground (off unless set). The wiring is {@link FrontDoors}'.
 */
public final class GatewayServer implements AutoCloseable {
  private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(GatewayServer.class.getName());
  private final GatewayModel model;
  private final Backends backends;
  private final FrontDoors doors;
  private final Telemetry telemetry;
  private final Duration grace;

  private GatewayServer(GatewayModel model, Backends backends, FrontDoors doors, Telemetry telemetry, Duration grace) {
    this.model = model;
    this.telemetry = telemetry;
    this.backends = backends;
    this.doors = doors;
    this.grace = grace;
  }

  /**
   * Settings of a split-deployment gateway.
   *
   * @param httpPort the HTTP front door's port; 0 picks a free one, negative = none
   */
  public record Config(Path model, String visionAddr, String decoderAddr, int port, int maxMessageBytes, int httpPort) {
    /** Without an HTTP port. */
    public Config(Path model, String visionAddr, String decoderAddr, int port, int maxMessageBytes) {
      this(model, visionAddr, decoderAddr, port, maxMessageBytes, -1);
    }

    public static Config fromEnv(Env env) {
      String model = env.string(ServiceDefaults.ENV_MODEL, "");
      if (model.isEmpty()) throw new IllegalArgumentException(ServiceDefaults.ENV_MODEL + " is not set (checkpoint folder)");
      return new Config(
          Path.of(model),
          env.string(ServiceDefaults.ENV_VISION_ADDR, "localhost:" + ServiceDefaults.VISION_PORT),
          env.string(ServiceDefaults.ENV_DECODER_ADDR, "localhost:" + ServiceDefaults.DECODER_PORT),
          env.integer(ServiceDefaults.ENV_PORT, ServiceDefaults.GATEWAY_PORT),
          env.integer(ServiceDefaults.ENV_MAX_MESSAGE_BYTES, ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES),
          env.integer(ServiceDefaults.ENV_HTTP_PORT, -1));
    }
  }

  /** Like {@link #start(Config, Telemetry)} without tracing. */
  public static GatewayServer start(Config c) throws IOException {
    return start(c, Telemetry.noop());
  }

  /**
   * Loads the model bits, connects (lazily) to both backends and starts serving Chat. The telemetry's interceptors
   * go on the server and on both backend channels (one trace per chat); closing the server closes the telemetry.
   */
  public static GatewayServer start(Config c, Telemetry telemetry) throws IOException {
    return start(c, telemetry, Env.system());
  }

  /**
   * As above, with the rest of the settings from {@code env}: limits (TANDEM_GATEWAY_*), security (TANDEM_TLS_*,
   * TANDEM_AUTH_TOKENS*, TANDEM_BACKEND_TLS_*), the HTTP front door's (TANDEM_HTTP_*), the drain grace and, when
   * TANDEM_HEALTH_PORT is set, a plaintext port with grpc.health.v1 only, for Kubernetes probes of a TLS port.
   */
  public static GatewayServer start(Config c, Telemetry telemetry, Env env) throws IOException {
    Duration grace = Draining.graceFromEnv(env); // a bad value fails the start, not the shutdown
    EdgeSecurity security = EdgeSecurity.fromEnv(env);
    HttpSettings http = HttpSettings.fromEnv(env, -1, c.httpPort());
    if (http != null && security.edgeTls()) {
      LOG.warning(ServiceDefaults.ENV_HTTP_PORT + "=" + http.port() + " serves plain HTTP next to the TLS Chat port: "
          + "terminate TLS in front of it (an ingress); bearer tokens travel in its requests. -1 turns it off.");
    }
    GatewayModel model = GatewayModel.load(c.model());
    // one channel per backend replica; images go to their cache owner, chats to their prefix's decoder (routing/)
    Backends backends;
    try {
      backends = Backends.connect(c.visionAddr(), c.decoderAddr(), c.maxMessageBytes(), telemetry,
          security.backendCredentials(), RoutingSettings.fromEnv(env), Routing.prefixKey(model));
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    FrontDoors doors;
    try {
      doors = FrontDoors.start(model, modelName(c.model()), backends, env, security, telemetry,
          ServerBootstrap.withConnectionLimits(Grpc.newServerBuilderForPort(c.port(), security.serverCredentials()), env),
          c.maxMessageBytes(), http);
    } catch (IOException | RuntimeException e) {
      backends.close();
      model.close();
      throw e;
    }
    GatewayServer started = new GatewayServer(model, backends, doors, telemetry, grace);
    try {
      doors.grpc().serveHealthOnlyFromEnv(env);
    } catch (IOException | RuntimeException e) {
      started.close();
      throw e;
    }
    return started;
  }

  /** See {@link FrontDoors#publicMessageBytes}. */
  public static int publicMessageBytes(int maxMessageBytes, GatewayLimits limits) {
    return FrontDoors.publicMessageBytes(maxMessageBytes, limits);
  }

  /** {@code gen_ai.request.model}: the checkpoint folder's name (a Hub snapshot folder is named by its repo). */
  public static String modelName(Path model) {
    Path abs = model.toAbsolutePath().normalize();
    Path name = abs.getFileName();
    return name == null ? abs.toString() : name.toString();
  }

  public int port() {
    return doors.grpc().port();
  }

  /** The HTTP front door's port, or 0 when there is none. */
  public int httpPort() {
    return doors.httpPort();
  }

  /** The plaintext health-only port, or 0 when there is none. */
  public int healthPort() {
    io.grpc.Server h = doors.grpc().healthOnlyServer();
    return h == null ? 0 : h.getPort();
  }

  public void awaitTermination() throws InterruptedException {
    doors.grpc().server().awaitTermination();
  }

  @Override
  public void close() {
    // streams in flight may finish for TANDEM_SHUTDOWN_GRACE_SECONDS; new calls get UNAVAILABLE meanwhile
    doors.close(grace);
    backends.close();
    model.close();
    telemetry.close();
  }

  /** Telemetry from the OTEL_* environment; Prometheus only when TANDEM_METRICS_PORT is set. */
  public static Telemetry telemetryFromEnv(Env env) {
    return Telemetry.fromEnv(
        "tandem-gateway", System.getenv(), env.integer(ServiceDefaults.ENV_METRICS_PORT, 0), null);
  }

  public static void main(String[] args) throws Exception {
    Env env = Env.system();
    GatewayServer s = start(Config.fromEnv(env), telemetryFromEnv(env));
    Runtime.getRuntime().addShutdownHook(new Thread(s::close, "gateway-shutdown"));
    System.err.println("gateway: serving Chat on port " + s.port()
        + (s.httpPort() > 0 ? ", HTTP (OpenAI API, playground) on port " + s.httpPort() : ""));
    s.awaitTermination();
  }
}
