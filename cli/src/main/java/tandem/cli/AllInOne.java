package tandem.cli;

import io.grpc.ManagedChannel;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.gateway.Gateway;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.GatewayModel;
import tandem.gateway.GatewayServer;
import tandem.gateway.grpc.ChatGrpcService;
import tandem.gateway.telemetry.ChatTelemetry;
import tandem.vision.VisionServer;
import tandem.vision.VisionSettings;

/**
 * The three services in one process ({@code vlm serve}, the laptop default): vision-svc and decoder-svc listen on
 * in-process transports only, and one public server carries {@code ChatService}. Every setting comes from the same
 * TANDEM_* variables as the split deployment; their ports are ignored (nothing but the public port is opened).
 */
public final class AllInOne implements AutoCloseable {
  private volatile VisionServer vision;
  private volatile DecoderServer decoder;
  private final GatewayModel gatewayModel;
  private final ManagedChannel visionChannel;
  private final ManagedChannel decoderChannel;
  private final ServerBootstrap gateway;
  private java.time.Duration grace = java.time.Duration.ofSeconds(ServiceDefaults.DEFAULT_SHUTDOWN_GRACE_SECONDS);
  /** What a backend restart needs: how the backends were built. */
  private Path model;
  private Env env;
  private String id;
  private Telemetry telemetry;
  private DecoderModel decoderModel;
  private tandem.gateway.limits.ClientLimiter limiter;

  private AllInOne(VisionServer vision, DecoderServer decoder, GatewayModel gatewayModel, ManagedChannel visionChannel,
      ManagedChannel decoderChannel, ServerBootstrap gateway) {
    this.vision = vision;
    this.decoder = decoder;
    this.gatewayModel = gatewayModel;
    this.visionChannel = visionChannel;
    this.decoderChannel = decoderChannel;
    this.gateway = gateway;
  }

  private static DecoderServer startDecoder(Path model, Env env, String id, Telemetry telemetry,
      DecoderModel decoderModel) throws IOException, InterruptedException {
    DecoderServerConfig dcfg = DecoderServerConfig.fromEnv(env);
    return DecoderServer.start(InProcessServerBuilder.forName("decoder-" + id), decoderModel.load(model, dcfg),
        DecoderServer.ModelInfo.fromDir(model), dcfg, List.of(), telemetry);
  }

  /**
   * Stops decoder-svc without a grace (its streams in flight end with an error, as when a pod dies) and starts a
   * fresh one under the same in-process name; the gateway's channel reconnects by itself. For {@code vlm bench soak}.
   */
  public synchronized void restartDecoder() throws IOException, InterruptedException {
    decoder.close(java.time.Duration.ZERO);
    decoder = startDecoder(model, env, id, telemetry, decoderModel);
  }

  /** As {@link #restartDecoder()}, for vision-svc. */
  public synchronized void restartVision() throws IOException {
    vision.close(java.time.Duration.ZERO);
    vision = VisionServer.start(VisionSettings.fromEnv(env), InProcessServerBuilder.forName("vision-" + id), telemetry);
  }

  /** Streams open at the public port (all clients), or -1 when no limiter counts them. */
  public int openStreams() {
    return limiter == null ? -1 : limiter.openStreams();
  }

  /**
   * Loads the checkpoint into both model services and starts the public Chat server on {@code publicServer}.
   *
   * @param environment TANDEM_* settings (usually the process environment); {@code model} and {@code device}
   *     override theirs when non-null
   */
  public static AllInOne start(Path model, String device, Map<String, String> environment,
      ServerBuilder<?> publicServer, Telemetry telemetry) throws IOException, InterruptedException {
    return start(model, device, environment, publicServer, telemetry,
        (dir, dcfg) -> Qwen3ForCausalLM.load(dir, dcfg.options()));
  }

  /** Builds decoder-svc's model from the checkpoint and its settings; tests pass a scripted one. */
  public interface DecoderModel {
    CausalLm load(Path model, DecoderServerConfig config) throws IOException;
  }

  /** As above, with decoder-svc running {@code decoderModel}'s model instead of the checkpoint's Qwen3. */
  public static AllInOne start(Path model, String device, Map<String, String> environment,
      ServerBuilder<?> publicServer, Telemetry telemetry, DecoderModel decoderModel)
      throws IOException, InterruptedException {
    Map<String, String> merged = new HashMap<>(environment);
    merged.put(ServiceDefaults.ENV_MODEL, model.toString());
    if (device != null) merged.put(ServiceDefaults.ENV_DEVICE, device);
    Env env = new Env(merged);
    List<ServerInterceptor> interceptors = List.of(telemetry.serverInterceptor());
    String id = UUID.randomUUID().toString();
    VisionServer vision = null;
    DecoderServer decoder = null;
    GatewayModel gm = null;
    List<ManagedChannel> channels = new ArrayList<>();
    try {
      vision = VisionServer.start(VisionSettings.fromEnv(env), InProcessServerBuilder.forName("vision-" + id), telemetry);
      decoder = startDecoder(model, env, id, telemetry, decoderModel);
      int maxMessage = env.integer(ServiceDefaults.ENV_MAX_MESSAGE_BYTES, ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES);
      ManagedChannel vc = channel("vision-" + id, maxMessage, telemetry);
      channels.add(vc);
      ManagedChannel dc = channel("decoder-" + id, maxMessage, telemetry);
      channels.add(dc);
      gm = GatewayModel.load(model);
      GatewayLimits limits = GatewayLimits.fromEnv(env);
      Gateway gw = new Gateway(gm, new Gateway.Backends(vc, "vision-svc (in-process)", dc, "decoder-svc (in-process)"),
          limits, ChatTelemetry.create(telemetry, GatewayServer.modelName(model)));
      // the public port gets the gateway's auth (TANDEM_AUTH_TOKENS*, client-cert check) and per-client limits; its
      // TLS credentials are the builder's (ServeCommand)
      EdgeSecurity security = EdgeSecurity.fromEnv(env);
      tandem.gateway.limits.ClientLimiter limiter = security.limiter(limits);
      List<ServerInterceptor> edge = security.interceptors(limiter, telemetry.serverInterceptor());
      ServerBootstrap boot = ServerBootstrap.start(publicServer, GatewayServer.publicMessageBytes(maxMessage, limits),
          edge, new ChatGrpcService(gw));
      boot.setServing();
      AllInOne started = new AllInOne(vision, decoder, gm, vc, dc, boot);
      started.grace = tandem.common.grpc.Draining.graceFromEnv(env);
      started.model = model;
      started.decoderModel = decoderModel;
      started.env = env;
      started.id = id;
      started.telemetry = telemetry;
      started.limiter = limiter;
      return started;
    } catch (IOException | RuntimeException | InterruptedException e) {
      channels.forEach(ManagedChannel::shutdownNow);
      if (gm != null) gm.close();
      if (decoder != null) decoder.close();
      if (vision != null) vision.close();
      throw e;
    }
  }

  private static ManagedChannel channel(String name, int maxMessage, Telemetry telemetry) {
    return InProcessChannelBuilder.forName(name).maxInboundMessageSize(maxMessage)
        .intercept(telemetry.clientInterceptor()).build();
  }

  /** Starts an all-in-one server reachable only in-process and returns a channel to its Chat service. */
  static ManagedChannel openEmbedded(Path model) throws IOException {
    String name = "tandem-embedded-" + UUID.randomUUID();
    // Traced like any server (OTEL_* apply; by default no exporter), so `vlm chat` can print its trace id.
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
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      a.close();
      telemetry.close();
    }, "embedded-shutdown"));
    return InProcessChannelBuilder.forName(name)
        .maxInboundMessageSize(ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES).build();
  }

  public int port() {
    return gateway.port();
  }

  /**
   * Opens TANDEM_HEALTH_PORT (plaintext, grpc.health.v1 only) next to the public port; for {@code vlm serve}, whose
   * public port may serve TLS. Not done by {@link #start}: the embedded server of {@code vlm chat} opens no port.
   */
  public void serveHealthOnlyFromEnv(Env env) throws IOException {
    gateway.serveHealthOnlyFromEnv(env);
  }

  public VisionServer vision() {
    return vision;
  }

  public DecoderServer decoder() {
    return decoder;
  }

  public void awaitTermination() throws InterruptedException {
    gateway.server().awaitTermination();
  }

  /** Drains the public server first (NOT_SERVING, finish streams), then the backends. */
  @Override
  public void close() {
    tandem.common.grpc.Draining.drain(gateway, grace); // streams in flight finish up to the grace, then are cut
    visionChannel.shutdownNow();
    decoderChannel.shutdownNow();
    gatewayModel.close();
    decoder.close();
    vision.close();
  }
}
