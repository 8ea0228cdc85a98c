package tandem.gateway.backend;

import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.InetSocketAddress;
import java.util.List;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.routing.EndpointPool;
import tandem.gateway.routing.PrefixKey;
import tandem.gateway.routing.Routing;
import tandem.gateway.routing.RoutingSettings;
import tandem.gateway.telemetry.ChatTelemetry;

/**
 * The gateway's channels to vision-svc and decoder-svc, made in one place: over the network for a
 * split gateway ({@link #connect}), in-process for the all-in-one server ({@link #inProcess}), or
 * given (tests). Every channel carries the telemetry's client interceptor (one trace per chat) and
 * an explicit inbound message limit.
 */
public final class Backends implements AutoCloseable {
  private final Channel vision;
  private final String visionName;
  private final Channel decoder;
  private final String decoderName;
  private final List<ManagedChannel> owned;
  private final Routing routing;

  private Backends(
      Channel vision,
      String visionName,
      Channel decoder,
      String decoderName,
      List<ManagedChannel> owned) {
    this(vision, visionName, decoder, decoderName, owned, null);
  }

  private Backends(
      Channel vision,
      String visionName,
      Channel decoder,
      String decoderName,
      List<ManagedChannel> owned,
      Routing routing) {
    this.vision = vision;
    this.visionName = visionName;
    this.decoder = decoder;
    this.decoderName = decoderName;
    this.owned = owned;
    this.routing = routing;
  }

  /**
   * The routers of a split gateway (their replicas and loads); null for in-process or given
   * channels.
   */
  public Routing routing() {
    return routing;
  }

  /**
   * Channels the caller made and closes; names are used in errors, e.g. {@code vision-svc
   * (10.0.0.3:50052)}.
   */
  public static Backends of(
      Channel vision, String visionName, Channel decoder, String decoderName) {
    return new Backends(vision, visionName, decoder, decoderName, List.of());
  }

  /**
   * Split deployment: each address ({@code host:port} or a comma-separated list; a name is
   * re-resolved) is routed by {@link Routing}: one channel per replica, each image to its cache
   * owner, each conversation to its prefix's decoder within bounded loads. A bad address fails
   * here, naming its variable.
   */
  public static Backends connect(
      String visionAddr,
      String decoderAddr,
      int maxMessageBytes,
      Telemetry telemetry,
      ChannelCredentials credentials,
      RoutingSettings settings,
      PrefixKey prefixKey) {
    Routing routing =
        Routing.start(
            visionAddr,
            decoderAddr,
            settings,
            prefixKey,
            (address, authority) ->
                endpointChannel(address, authority, maxMessageBytes, telemetry, credentials),
            EndpointPool.jdkResolver());
    return new Backends(
        routing.vision(),
        "vision-svc (" + visionAddr + ")",
        routing.decoder(),
        "decoder-svc (" + decoderAddr + ")",
        List.of(),
        routing);
  }

  /**
   * The channel to one backend replica: {@code address} dialled directly, TLS checked against
   * {@code authority}.
   */
  static ManagedChannel endpointChannel(
      InetSocketAddress address,
      String authority,
      int maxMessageBytes,
      Telemetry telemetry,
      ChannelCredentials credentials) {
    return NettyChannelBuilder.forAddress(address, credentials)
        .overrideAuthority(authority)
        .maxInboundMessageSize(maxMessageBytes)
        .intercept(telemetry.clientInterceptor())
        .build();
  }

  /** All-in-one: the backends' in-process server names. */
  public static Backends inProcess(
      String visionServer, String decoderServer, int maxMessageBytes, Telemetry telemetry) {
    ManagedChannel v =
        InProcessChannelBuilder.forName(visionServer)
            .maxInboundMessageSize(maxMessageBytes)
            .intercept(telemetry.clientInterceptor())
            .build();
    ManagedChannel d =
        InProcessChannelBuilder.forName(decoderServer)
            .maxInboundMessageSize(maxMessageBytes)
            .intercept(telemetry.clientInterceptor())
            .build();
    return new Backends(v, "vision-svc (in-process)", d, "decoder-svc (in-process)", List.of(v, d));
  }

  /** A plaintext network channel (tests and tools). */
  public static ManagedChannel channel(String target, int maxMessageBytes, Telemetry telemetry) {
    return channel(target, maxMessageBytes, telemetry, InsecureChannelCredentials.create());
  }

  /**
   * A network channel to one address, for tests and tools (the gateway's own backends go through
   * {@link #connect}).
   */
  public static ManagedChannel channel(
      String target, int maxMessageBytes, Telemetry telemetry, ChannelCredentials credentials) {
    return Grpc.newChannelBuilder(target, credentials)
        .maxInboundMessageSize(maxMessageBytes)
        .intercept(telemetry.clientInterceptor())
        .build();
  }

  public VisionClient visionClient(int defaultDeadlineSeconds) {
    return new VisionClient(vision, visionName, defaultDeadlineSeconds);
  }

  public DecoderClient decoderClient(int defaultDeadlineSeconds) {
    return new DecoderClient(decoder, decoderName, defaultDeadlineSeconds);
  }

  /** The chat pipeline over these backends, with default limits and no telemetry. */
  public ChatPipeline pipeline(GatewayModel model) {
    return pipeline(model, GatewayLimits.defaults(), ChatTelemetry.noop());
  }

  /** The chat pipeline over these backends, with request limits. */
  public ChatPipeline pipeline(GatewayModel model, GatewayLimits limits) {
    return pipeline(model, limits, ChatTelemetry.noop());
  }

  /**
   * The chat pipeline over these backends: the one object both front doors (gRPC and HTTP) serve.
   */
  public ChatPipeline pipeline(GatewayModel model, GatewayLimits limits, ChatTelemetry telemetry) {
    return new ChatPipeline(
        model,
        visionClient(limits.backendDeadlineSeconds()),
        decoderClient(limits.backendDeadlineSeconds()),
        limits,
        telemetry);
  }

  /** Closes the channels this object made (not those given to {@link #of}). */
  @Override
  public void close() {
    owned.forEach(ManagedChannel::shutdownNow);
    if (routing != null) routing.close();
  }
}
