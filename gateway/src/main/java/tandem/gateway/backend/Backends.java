package tandem.gateway.backend;

import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.util.List;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.telemetry.ChatTelemetry;

/**
 * The gateway's channels to vision-svc and decoder-svc, made in one place: over the network for a split gateway
 * ({@link #connect}), in-process for the all-in-one server ({@link #inProcess}), or given (tests). Every channel
 * carries the telemetry's client interceptor (one trace per chat) and an explicit inbound message limit.
 */
public final class Backends implements AutoCloseable {
  private final Channel vision;
  private final String visionName;
  private final Channel decoder;
  private final String decoderName;
  private final List<ManagedChannel> owned;

  private Backends(Channel vision, String visionName, Channel decoder, String decoderName, List<ManagedChannel> owned) {
    this.vision = vision;
    this.visionName = visionName;
    this.decoder = decoder;
    this.decoderName = decoderName;
    this.owned = owned;
  }

  /** Channels the caller made and closes; names are used in errors, e.g. {@code vision-svc (10.0.0.3:50052)}. */
  public static Backends of(Channel vision, String visionName, Channel decoder, String decoderName) {
    return new Backends(vision, visionName, decoder, decoderName, List.of());
  }

  /** Split deployment: one channel per backend address (a {@code dns:///} target of a headless Service spreads). */
  public static Backends connect(String visionAddr, String decoderAddr, int maxMessageBytes, Telemetry telemetry,
      ChannelCredentials credentials) {
    ManagedChannel v = channel(visionAddr, maxMessageBytes, telemetry, credentials);
    ManagedChannel d = channel(decoderAddr, maxMessageBytes, telemetry, credentials);
    return new Backends(v, "vision-svc (" + visionAddr + ")", d, "decoder-svc (" + decoderAddr + ")", List.of(v, d));
  }

  /** All-in-one: the backends' in-process server names. */
  public static Backends inProcess(String visionServer, String decoderServer, int maxMessageBytes, Telemetry telemetry) {
    ManagedChannel v = InProcessChannelBuilder.forName(visionServer).maxInboundMessageSize(maxMessageBytes)
        .intercept(telemetry.clientInterceptor()).build();
    ManagedChannel d = InProcessChannelBuilder.forName(decoderServer).maxInboundMessageSize(maxMessageBytes)
        .intercept(telemetry.clientInterceptor()).build();
    return new Backends(v, "vision-svc (in-process)", d, "decoder-svc (in-process)", List.of(v, d));
  }

  /** A plaintext network channel (tests and tools). */
  public static ManagedChannel channel(String target, int maxMessageBytes, Telemetry telemetry) {
    return channel(target, maxMessageBytes, telemetry, InsecureChannelCredentials.create());
  }

  /** A network channel to one backend address. */
  public static ManagedChannel channel(
      String target, int maxMessageBytes, Telemetry telemetry, ChannelCredentials credentials) {
    // round_robin: with a dns:/// target of a headless Service the gateway sees every ready backend pod and spreads
    // calls over them (pick_first would pin each gateway to one pod); with one address it changes nothing.
    return Grpc.newChannelBuilder(target, credentials)
        .defaultLoadBalancingPolicy("round_robin")
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

  /** The chat pipeline over these backends: the one object both front doors (gRPC and HTTP) serve. */
  public ChatPipeline pipeline(GatewayModel model, GatewayLimits limits, ChatTelemetry telemetry) {
    return new ChatPipeline(model, visionClient(limits.backendDeadlineSeconds()),
        decoderClient(limits.backendDeadlineSeconds()), limits, telemetry);
  }

  /** Closes the channels this object made (not those given to {@link #of}). */
  @Override
  public void close() {
    owned.forEach(ManagedChannel::shutdownNow);
  }
}
