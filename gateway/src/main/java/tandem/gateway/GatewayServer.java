package tandem.gateway;

import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.grpc.ChatGrpcService;
import tandem.gateway.telemetry.ChatTelemetry;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.routing.EndpointPool;
import tandem.gateway.routing.Routing;
import tandem.gateway.routing.RoutingSettings;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

/**
 * The gateway as its own process: {@code TANDEM_MODEL} (checkpoint folder: tokenizer, chat template, processor
 * config), {@code TANDEM_VISION_ADDR}, {@code TANDEM_DECODER_ADDR} (each {@code host:port} or a comma-separated
 * list; see {@link tandem.gateway.routing.Routing}), {@code TANDEM_PORT}.
 */
public final class GatewayServer implements AutoCloseable {
  private final GatewayModel model;
  private final Routing routing;
  private final ServerBootstrap server;
  private final Telemetry telemetry;
  private final Duration grace;

  private GatewayServer(GatewayModel model, Routing routing, ServerBootstrap server, Telemetry telemetry,
      Duration grace) {
    this.model = model;
    this.telemetry = telemetry;
    this.routing = routing;
    this.server = server;
    this.grace = grace;
  }

  /** Settings of a split-deployment gateway. */
  public record Config(Path model, String visionAddr, String decoderAddr, int port, int maxMessageBytes) {
    public static Config fromEnv(Env env) {
      String model = env.string(ServiceDefaults.ENV_MODEL, "");
      if (model.isEmpty()) throw new IllegalArgumentException(ServiceDefaults.ENV_MODEL + " is not set (checkpoint folder)");
      return new Config(
          Path.of(model),
          env.string(ServiceDefaults.ENV_VISION_ADDR, "localhost:" + ServiceDefaults.VISION_PORT),
          env.string(ServiceDefaults.ENV_DECODER_ADDR, "localhost:" + ServiceDefaults.DECODER_PORT),
          env.integer(ServiceDefaults.ENV_PORT, ServiceDefaults.GATEWAY_PORT),
          env.integer(ServiceDefaults.ENV_MAX_MESSAGE_BYTES, ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES));
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
   * TANDEM_AUTH_TOKENS*, TANDEM_BACKEND_TLS_*), the drain grace and, when TANDEM_HEALTH_PORT is set, a plaintext
   * port with grpc.health.v1 only, for Kubernetes probes of a TLS port.
   */
  public static GatewayServer start(Config c, Telemetry telemetry, Env env) throws IOException {
    Duration grace = Draining.graceFromEnv(env); // a bad value fails the start, not the shutdown
    GatewayModel model = GatewayModel.load(c.model());
    GatewayLimits limits = GatewayLimits.fromEnv(env);
    EdgeSecurity security = EdgeSecurity.fromEnv(env);
    // one channel per backend replica; images go to their cache owner, chats to their prefix's decoder (routing/)
    Routing routing = Routing.start(c.visionAddr(), c.decoderAddr(), RoutingSettings.fromEnv(env),
        Routing.prefixKey(model), (address, authority) -> endpointChannel(address, authority, c.maxMessageBytes(),
            telemetry, security.backendCredentials()), EndpointPool.jdkResolver());
    Gateway gateway =
        new Gateway(
            model,
            new Gateway.Backends(routing.vision(), "vision-svc (" + c.visionAddr() + ")", routing.decoder(),
                "decoder-svc (" + c.decoderAddr() + ")"),
            limits,
            ChatTelemetry.create(telemetry, modelName(c.model())));
    ServerBootstrap server;
    try {
      server =
        ServerBootstrap.start(
            ServerBootstrap.withConnectionLimits(Grpc.newServerBuilderForPort(c.port(), security.serverCredentials()), env),
            publicMessageBytes(c.maxMessageBytes(), limits),
            // the last interceptor runs first: telemetry sees every refusal; auth runs before the limiter so that
            // unauthenticated callers cannot fill its per-client table
            security.interceptors(security.limiter(limits), telemetry.serverInterceptor()),
            new ChatGrpcService(gateway));
    } catch (IOException | RuntimeException e) {
      routing.close();
      model.close();
      throw e;
    }
    server.setServing();
    GatewayServer started = new GatewayServer(model, routing, server, telemetry, grace);
    try {
      server.serveHealthOnlyFromEnv(env);
    } catch (IOException | RuntimeException e) {
      started.close();
      throw e;
    }
    return started;
  }

  /**
   * The public Chat port's message limit: TANDEM_GATEWAY_MAX_REQUEST_BYTES, or TANDEM_MAX_MESSAGE_BYTES when that is
   * smaller. A larger request is refused by the transport before it is parsed.
   */
  public static int publicMessageBytes(int maxMessageBytes, GatewayLimits limits) {
    return Math.min(maxMessageBytes, limits.input().maxRequestBytes());
  }

  /** The channel to one backend replica: {@code address} dialled directly, TLS checked against {@code authority}. */
  static ManagedChannel endpointChannel(java.net.InetSocketAddress address, String authority, int maxMessageBytes,
      Telemetry telemetry, io.grpc.ChannelCredentials credentials) {
    return NettyChannelBuilder.forAddress(address, credentials)
        .overrideAuthority(authority)
        .maxInboundMessageSize(maxMessageBytes)
        .intercept(telemetry.clientInterceptor())
        .build();
  }

  /** The routing channels (their endpoints and loads), for tests and diagnostics. */
  public Routing routing() {
    return routing;
  }

  /** {@code gen_ai.request.model}: the checkpoint folder's name (a Hub snapshot folder is named by its repo). */
  public static String modelName(Path model) {
    Path abs = model.toAbsolutePath().normalize();
    Path name = abs.getFileName();
    return name == null ? abs.toString() : name.toString();
  }

  public int port() {
    return server.port();
  }

  /** The plaintext health-only port, or 0 when there is none. */
  public int healthPort() {
    io.grpc.Server h = server.healthOnlyServer();
    return h == null ? 0 : h.getPort();
  }

  public void awaitTermination() throws InterruptedException {
    server.server().awaitTermination();
  }

  @Override
  public void close() {
    // streams in flight may finish for TANDEM_SHUTDOWN_GRACE_SECONDS; new calls get UNAVAILABLE meanwhile
    Draining.drain(server, grace);
    server.server().shutdownNow();
    routing.close();
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
    System.err.println("gateway: serving Chat on port " + s.port());
    s.awaitTermination();
  }
}
