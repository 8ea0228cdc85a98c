package tandem.cli;

import io.grpc.ManagedChannel;
import io.grpc.ServerBuilder;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.gateway.FrontDoors;
import tandem.gateway.GatewayServer;
import tandem.gateway.backend.Backends;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.GatewayModel;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;

/**
 * The three services in one process ({@code vlm serve}, the laptop default): vision-svc and
 * decoder-svc listen on in-process transports only, and one public server carries {@code
 * ChatService}. Every setting comes from the same TANDEM_* variables as the split deployment; their
 * ports are ignored (nothing but the public port is opened).
 */
public final class AllInOne implements AutoCloseable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AllInOne.class);
  private volatile VisionServer vision;
  private volatile DecoderServer decoder;
  private final GatewayModel gatewayModel;
  private final Backends backends;
  private final FrontDoors doors;
  private java.time.Duration grace =
      java.time.Duration.ofSeconds(CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultValue());

  /** What a backend restart needs: how the backends were built. */
  private Path model;

  private Env env;
  private Map<String, String> environment;
  private String id;
  private Telemetry telemetry;
  private DecoderModel decoderModel;

  private AllInOne(
      VisionServer vision,
      DecoderServer decoder,
      GatewayModel gatewayModel,
      Backends backends,
      FrontDoors doors) {
    this.vision = vision;
    this.decoder = decoder;
    this.gatewayModel = gatewayModel;
    this.backends = backends;
    this.doors = doors;
  }

  private static DecoderServer startDecoder(
      Path model,
      Map<String, String> environment,
      String id,
      Telemetry telemetry,
      DecoderModel decoderModel)
      throws IOException, InterruptedException {
    DecoderServerConfig dcfg =
        DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(environment));
    return DecoderServer.start(
        decoderModel.load(model, dcfg),
        DecoderServer.ModelInfo.fromDir(model),
        dcfg,
        ServerHost.inProcess(InProcessServerBuilder.forName("decoder-" + id))
            .withTelemetry(telemetry));
  }

  /**
   * Stops decoder-svc without a grace (its streams in flight end with an error, as when a pod dies)
   * and starts a fresh one under the same in-process name; the gateway's channel reconnects by
   * itself. For {@code vlm bench soak}.
   */
  public synchronized void restartDecoder() throws IOException, InterruptedException {
    decoder.close(java.time.Duration.ZERO);
    decoder = startDecoder(model, environment, id, telemetry, decoderModel);
  }

  /** As {@link #restartDecoder()}, for vision-svc. */
  public synchronized void restartVision() throws IOException {
    vision.close(java.time.Duration.ZERO);
    vision =
        VisionServer.start(
            VisionServerConfig.fromEnv(env),
            tandem.common.grpc.ServerHost.inProcess(InProcessServerBuilder.forName("vision-" + id))
                .withTelemetry(telemetry));
  }

  /** Streams open at the public port (all clients), or -1 when no limiter counts them. */
  public int openStreams() {
    return doors.limiter().openStreams();
  }

  /**
   * Loads the checkpoint into both model services and starts the public Chat server on {@code
   * publicServer}.
   *
   * @param environment TANDEM_* settings (usually the process environment); {@code model} and
   *     {@code device} override theirs when non-null
   */
  public static AllInOne start(
      Path model,
      String device,
      Map<String, String> environment,
      ServerBuilder<?> publicServer,
      Telemetry telemetry)
      throws IOException, InterruptedException {
    return start(model, device, environment, publicServer, telemetry, DEFAULT_DECODER_MODEL);
  }

  /** The checkpoint's Qwen3, with decoder-svc's settings. */
  public static final DecoderModel DEFAULT_DECODER_MODEL =
      (dir, dcfg) -> Qwen3ForCausalLM.load(dir, dcfg.options());

  /** Builds decoder-svc's model from the checkpoint and its settings; tests pass a scripted one. */
  public interface DecoderModel {
    CausalLm load(Path model, DecoderServerConfig config) throws IOException;
  }

  /**
   * As above, with decoder-svc running {@code decoderModel}'s model instead of the checkpoint's
   * Qwen3; no HTTP port.
   */
  public static AllInOne start(
      Path model,
      String device,
      Map<String, String> environment,
      ServerBuilder<?> publicServer,
      Telemetry telemetry,
      DecoderModel decoderModel)
      throws IOException, InterruptedException {
    return start(model, device, environment, publicServer, telemetry, decoderModel, null);
  }

  /**
   * As above, and with the HTTP front door (OpenAI-compatible API and playground) on {@code http}'s
   * port when it is not null. The gateway's wiring is {@link FrontDoors}', the same as a split
   * gateway's.
   */
  public static AllInOne start(
      Path model,
      String device,
      Map<String, String> environment,
      ServerBuilder<?> publicServer,
      Telemetry telemetry,
      DecoderModel decoderModel,
      HttpSettings http)
      throws IOException, InterruptedException {
    Map<String, String> merged = new HashMap<>(environment);
    merged.put(CommonSettings.MODEL.env(), model.toString());
    if (device != null) merged.put(CommonSettings.DEVICE.env(), device);
    Env env = new Env(merged);
    String id = UUID.randomUUID().toString();
    VisionServer vision = null;
    DecoderServer decoder = null;
    GatewayModel gm = null;
    Backends backends = null;
    try {
      vision =
          VisionServer.start(
              VisionServerConfig.fromEnv(env),
              tandem.common.grpc.ServerHost.inProcess(
                      InProcessServerBuilder.forName("vision-" + id))
                  .withTelemetry(telemetry));
      decoder = startDecoder(model, merged, id, telemetry, decoderModel);
      int maxMessage = env.get(CommonSettings.MAX_MESSAGE_BYTES);
      backends = Backends.inProcess("vision-" + id, "decoder-" + id, maxMessage, telemetry);
      gm = GatewayModel.load(model);
      // the public port gets the gateway's auth (TANDEM_AUTH_TOKENS*, client-cert check) and
      // per-client limits; its
      // TLS credentials are the builder's (ServeCommand)
      EdgeSecurity security = EdgeSecurity.fromEnv(env);
      // no health port or grace from the host: ServeCommand opens the health port, close() drains
      // with `grace`
      GatewayLimits limits = GatewayLimits.from(GatewaySettings.resolve(env));
      FrontDoors doors =
          FrontDoors.start(
              gm,
              GatewayServer.modelName(model),
              backends,
              limits,
              security,
              ServerHost.inProcess(publicServer).withTelemetry(telemetry),
              maxMessage,
              http);
      AllInOne started = new AllInOne(vision, decoder, gm, backends, doors);
      LOG.info(
          "gateway serving {} in-process beside its backends (tokenizer {}); limits: prompt {}"
              + " tokens, max_new_tokens {}, {} images per request, {} concurrent streams",
          GatewayServer.modelName(model),
          gm.tokenizer().source(),
          limits.maxPromptTokens(),
          limits.maxNewTokens(),
          limits.maxImages(),
          limits.maxConcurrentStreams() == 0 ? "unlimited" : limits.maxConcurrentStreams());
      started.grace = tandem.common.grpc.Draining.graceFromEnv(env);
      started.model = model;
      started.decoderModel = decoderModel;
      started.env = env;
      started.environment = merged;
      started.id = id;
      started.telemetry = telemetry;
      return started;
    } catch (IOException | RuntimeException | InterruptedException e) {
      if (backends != null) backends.close();
      if (gm != null) gm.close();
      if (decoder != null) decoder.close();
      if (vision != null) vision.close();
      throw e;
    }
  }

  /**
   * Starts an all-in-one server reachable only in-process and returns a channel to its Chat
   * service.
   */
  static ManagedChannel openEmbedded(Path model) throws IOException {
    String name = "tandem-embedded-" + UUID.randomUUID();
    // Traced like any server (OTEL_* apply; by default no exporter), so `vlm chat` can print its
    // trace id.
    Telemetry telemetry = Telemetry.fromEnv("tandem", System.getenv(), 0, null);
    AllInOne a;
    try {
      a = start(model, null, System.getenv(), InProcessServerBuilder.forName(name), telemetry);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      telemetry.close();
      throw new IOException("interrupted while starting the embedded server", e);
    } catch (IOException | RuntimeException e) {
      telemetry.close();
      throw e;
    }
    ServerHost.closeOnShutdown(a::close, telemetry, "embedded-shutdown");
    return InProcessChannelBuilder.forName(name)
        .maxInboundMessageSize(CommonSettings.MAX_MESSAGE_BYTES.defaultValue())
        .build();
  }

  public int port() {
    return doors.grpc().port();
  }

  /** The HTTP front door's port (OpenAI-compatible API and playground), or 0 when there is none. */
  public int httpPort() {
    return doors.httpPort();
  }

  /** The HTTP front door, or null (tests watch its requests in flight). */
  public tandem.gateway.http.HttpFrontDoor http() {
    return doors.http();
  }

  /**
   * Opens TANDEM_HEALTH_PORT (plaintext, grpc.health.v1 only) next to the public port; for {@code
   * vlm serve}, whose public port may serve TLS. Not done by {@link #start}: the embedded server of
   * {@code vlm chat} opens no port.
   */
  public void serveHealthOnlyFromEnv(Env env) throws IOException {
    doors.grpc().serveHealthOnlyFromEnv(env);
  }

  public VisionServer vision() {
    return vision;
  }

  public DecoderServer decoder() {
    return decoder;
  }

  public void awaitTermination() throws InterruptedException {
    doors.grpc().server().awaitTermination();
  }

  /** Drains the public server first (NOT_SERVING, finish streams), then the backends. */
  @Override
  public void close() {
    doors.close(grace); // streams in flight finish up to the grace, then are cut
    backends.close();
    gatewayModel.close();
    decoder.close();
    vision.close();
  }
}
