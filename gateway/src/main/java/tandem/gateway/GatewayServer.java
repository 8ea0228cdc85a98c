package tandem.gateway;

import io.grpc.Grpc;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.config.Env;
import tandem.common.config.SettingValues;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.security.TlsSettings;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.backend.Backends;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.routing.EndpointPool;
import tandem.gateway.routing.Routing;
import tandem.gateway.routing.RoutingSettings;

/**
 * The gateway as its own process: the checkpoint folder (tokenizer, chat template, processor
 * config), the addresses of vision-svc and decoder-svc (each {@code host:port} or a comma-separated
 * list; see {@link tandem.gateway.routing.Routing}), the Chat port and, when set, the HTTP port of
 * the OpenAI-compatible API and playground; every setting is in {@link GatewaySettings}. The wiring
 * is {@link FrontDoors}'.
 */
public final class GatewayServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GatewayServer.class);
  private final GatewayModel model;
  private final Backends backends;
  private final FrontDoors doors;
  private final ServerHost host;

  private GatewayServer(GatewayModel model, Backends backends, FrontDoors doors, ServerHost host) {
    this.model = model;
    this.backends = backends;
    this.doors = doors;
    this.host = host;
  }

  /**
   * Settings of a split-deployment gateway, resolved ({@link GatewaySettings}).
   *
   * @param http the HTTP front door's settings, or null for none
   */
  public record Config(
      Path model,
      String visionAddr,
      String decoderAddr,
      int port,
      int maxMessageBytes,
      HttpSettings http,
      GatewayLimits limits,
      RoutingSettings routing) {
    /** The default limits and routing, no HTTP port. */
    public Config(
        Path model, String visionAddr, String decoderAddr, int port, int maxMessageBytes) {
      this(
          model,
          visionAddr,
          decoderAddr,
          port,
          maxMessageBytes,
          null,
          GatewayLimits.defaults(),
          RoutingSettings.defaults());
    }

    /**
     * From resolved settings; the model must be set (a folder: a Hub id is the CLI's to resolve
     * first).
     */
    public static Config from(SettingValues v) {
      return new Config(
          Path.of(v.require(GatewaySettings.MODEL)),
          v.get(GatewaySettings.VISION_ADDR),
          v.get(GatewaySettings.DECODER_ADDR),
          v.get(GatewaySettings.PORT),
          v.get(GatewaySettings.MAX_MESSAGE_BYTES),
          HttpSettings.from(v, -1, null),
          GatewayLimits.from(v),
          RoutingSettings.from(v));
    }

    public static Config fromEnv(Env env) {
      return from(GatewaySettings.resolve(env));
    }

    public Config withModel(Path dir) {
      return new Config(dir, visionAddr, decoderAddr, port, maxMessageBytes, http, limits, routing);
    }

    public Config withBackends(String vision, String decoder) {
      return new Config(model, vision, decoder, port, maxMessageBytes, http, limits, routing);
    }

    public Config withLimits(GatewayLimits l) {
      return new Config(model, visionAddr, decoderAddr, port, maxMessageBytes, http, l, routing);
    }
  }

  /**
   * The public Chat port of a split gateway on {@code port}: TLS from TANDEM_TLS_* (plaintext when
   * unset), the connection limits, and {@link ServerHost#network}'s drain grace and health-only
   * port, all from {@code env}.
   */
  public static ServerHost publicHost(int port, Env env, Telemetry telemetry) throws IOException {
    ServerCredentials credentials =
        TlsSettings.serverFromEnv(env).serverCredentials().credentials();
    return ServerHost.network(
        ServerBootstrap.withConnectionLimits(Grpc.newServerBuilderForPort(port, credentials), env),
        env,
        telemetry);
  }

  /**
   * Loads the model bits, connects (lazily) to both backends and serves Chat on {@code host} (see
   * {@link #publicHost}). The host's telemetry goes on the server and on both backend channels (one
   * trace per chat); it is borrowed: whoever made it closes it, after this server. {@code env}
   * gives what common reads from the environment: bearer tokens (TANDEM_AUTH_TOKENS*), the
   * client-certificate check of TANDEM_TLS_* and the backends' TLS (TANDEM_BACKEND_TLS_*).
   */
  public static GatewayServer start(Config c, ServerHost host, Env env) throws IOException {
    EdgeSecurity security = EdgeSecurity.fromEnv(env);
    if (c.http() != null && security.edgeTls()) {
      LOG.warn(
          "{}={} serves plain HTTP next to the TLS Chat port: terminate TLS in front of it (an"
              + " ingress); bearer tokens travel in its requests. -1 turns it off.",
          GatewaySettings.HTTP_PORT.env(),
          c.http().port());
    }
    GatewayModel model = GatewayModel.load(c.model());
    // one channel per backend replica; images go to their cache owner, chats to their prefix's
    // decoder (routing/)
    Backends backends;
    try {
      backends =
          Backends.connect(
              c.visionAddr(),
              c.decoderAddr(),
              c.maxMessageBytes(),
              host.telemetry(),
              security.backendCredentials(),
              c.routing(),
              Routing.prefixKey(model));
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    FrontDoors doors;
    try {
      doors =
          FrontDoors.start(
              model,
              modelName(c.model()),
              backends,
              c.limits(),
              security,
              host,
              c.maxMessageBytes(),
              c.http());
    } catch (IOException | RuntimeException e) {
      backends.close();
      model.close();
      throw e;
    }
    GatewayServer started = new GatewayServer(model, backends, doors, host);
    LOG.info(started.startupLine(c, security.edgeTls()));
    return started;
  }

  /**
   * The startup line: what was loaded, where the backends are, which ports are open, the main
   * limits.
   */
  String startupLine(Config c, boolean tls) {
    Routing r = backends.routing();
    GatewayLimits l = c.limits();
    return "gateway: model "
        + modelName(c.model())
        + " ("
        + c.model()
        + "; tokenizer "
        + model.tokenizer().source()
        + ", Qwen3-SmVL chat template, "
        + model.imageSeqLen()
        + " tokens per image tile); vision-svc "
        + c.visionAddr()
        + " ("
        + replicas(r.vision().pool())
        + "), decoder-svc "
        + c.decoderAddr()
        + " ("
        + replicas(r.decoder().pool())
        + "); Chat on port "
        + port()
        + (tls ? " (TLS)" : "")
        + (healthPort() > 0 ? ", health on port " + healthPort() : "")
        + (httpPort() > 0
            ? ", HTTP (OpenAI API, playground) on port " + httpPort()
            : ", no HTTP port")
        + "; limits: prompt "
        + l.maxPromptTokens()
        + " tokens, max_new_tokens "
        + l.maxNewTokens()
        + ", "
        + l.maxImages()
        + " images, request "
        + FrontDoors.publicMessageBytes(c.maxMessageBytes(), l)
        + " bytes, "
        + orUnlimited(l.maxConcurrentStreams())
        + " streams ("
        + orUnlimited(l.maxStreamsPerClient())
        + " per client), "
        + (l.ratePerSecond() > 0
            ? l.ratePerSecond() + " requests/s per client (burst " + l.burst() + ")"
            : "no rate limit")
        + ", backend deadline "
        + l.backendDeadlineSeconds()
        + " s";
  }

  private static String replicas(EndpointPool pool) {
    int n = pool.endpoints().size();
    return n + (n == 1 ? " replica" : " replicas");
  }

  private static String orUnlimited(int n) {
    return n == 0 ? "unlimited" : String.valueOf(n);
  }

  /**
   * {@code gen_ai.request.model}: the checkpoint folder's name (a Hub snapshot folder is named by
   * its repo).
   */
  public static String modelName(Path model) {
    Path abs = model.toAbsolutePath().normalize();
    Path name = abs.getFileName();
    return name == null ? abs.toString() : name.toString();
  }

  public int port() {
    return doors.grpc().port();
  }

  /**
   * The routers over the backend replicas (their endpoints, loads and resends); null when the
   * backends were handed in as channels or run in-process.
   */
  public Routing routing() {
    return backends.routing();
  }

  /** The HTTP front door's port, or 0 when there is none. */
  public int httpPort() {
    return doors.httpPort();
  }

  /** The plaintext health-only port, or 0 when there is none. */
  public int healthPort() {
    Server h = doors.grpc().healthOnlyServer();
    return h == null ? 0 : h.getPort();
  }

  public void awaitTermination() throws InterruptedException {
    doors.grpc().server().awaitTermination();
  }

  /** Drains and stops; the telemetry stays open (it is the caller's). */
  @Override
  public void close() {
    // streams in flight may finish for the host's grace (TANDEM_SHUTDOWN_GRACE_SECONDS); new calls
    // get UNAVAILABLE
    doors.close(host.shutdownGrace());
    backends.close();
    model.close();
  }

  /** Telemetry from the OTEL_* environment; Prometheus on {@code metricsPort} when it is not 0. */
  public static Telemetry telemetry(int metricsPort) {
    return Telemetry.fromEnv("tandem-gateway", System.getenv(), metricsPort, null);
  }

  public static void main(String[] args) throws Exception {
    Env env = Env.system();
    SettingValues settings = GatewaySettings.resolve(env);
    Config c = Config.from(settings);
    Telemetry telemetry = telemetry(settings.get(GatewaySettings.METRICS_PORT));
    GatewayServer s;
    try {
      s = start(c, publicHost(c.port(), env, telemetry), env);
    } catch (IOException | RuntimeException e) {
      telemetry.close();
      throw e;
    }
    ServerHost.closeOnShutdown(s::close, telemetry, "gateway-shutdown");
    s.awaitTermination();
  }
}
