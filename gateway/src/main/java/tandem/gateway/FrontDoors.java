package tandem.gateway;

import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.backend.Backends;
import tandem.gateway.grpc.ChatGrpcService;
import tandem.gateway.http.HttpFrontDoor;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.ClientLimiter;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.telemetry.ChatTelemetry;

/**
 * The gateway's wiring, one for every deployment shape ({@code vlm serve gateway} and the
 * all-in-one {@code vlm serve}): one {@link ChatPipeline} over the backends, served by the gRPC
 * front door (Chat on the host's server, with the edge's auth and per-client limits inside the
 * host's status mapping and telemetry) and, when an HTTP port is set, by the HTTP front door with
 * the same tokens, the same limiter (one budget per client over both doors) and the same telemetry.
 */
public final class FrontDoors implements AutoCloseable {
  private final ChatPipeline pipeline;
  private final ClientLimiter limiter;
  private final ServerBootstrap grpc;
  private final HttpFrontDoor http;

  private FrontDoors(
      ChatPipeline pipeline, ClientLimiter limiter, ServerBootstrap grpc, HttpFrontDoor http) {
    this.pipeline = pipeline;
    this.limiter = limiter;
    this.grpc = grpc;
    this.http = http;
  }

  /**
   * Starts both front doors over {@code backends}.
   *
   * @param host the Chat port: its builder (credentials, connection limits), telemetry, grace and
   *     health port
   * @param http the HTTP port's settings, or null for none
   */
  public static FrontDoors start(
      GatewayModel model,
      String modelName,
      Backends backends,
      GatewayLimits limits,
      EdgeSecurity security,
      ServerHost host,
      int maxMessageBytes,
      HttpSettings http)
      throws IOException {
    Telemetry telemetry = host.telemetry();
    ChatPipeline pipeline =
        backends.pipeline(model, limits, ChatTelemetry.create(telemetry, modelName));
    ClientLimiter limiter = security.limiter(limits);
    // the last interceptor runs first: the host's telemetry and status mapping see every refusal;
    // auth runs before
    // the limiter so that unauthenticated callers cannot fill its per-client table
    List<ServerInterceptor> interceptors = new ArrayList<>(security.interceptors(limiter));
    interceptors.addAll(host.interceptors());
    ServerBootstrap grpc =
        host.withInterceptors(interceptors)
            .start(publicMessageBytes(maxMessageBytes, limits), new ChatGrpcService(pipeline));
    HttpFrontDoor door = null;
    if (http != null) {
      try {
        door =
            HttpFrontDoor.start(
                pipeline, modelName, security.bearerTokens(), limiter, http, telemetry);
      } catch (IOException | RuntimeException e) {
        grpc.server().shutdownNow();
        throw new IOException(
            "cannot open the HTTP port " + http.port() + ": " + e.getMessage(), e);
      }
    }
    grpc.setServing();
    return new FrontDoors(pipeline, limiter, grpc, door);
  }

  /**
   * The public Chat port's message limit: TANDEM_GATEWAY_MAX_REQUEST_BYTES, or
   * TANDEM_MAX_MESSAGE_BYTES when that is smaller. A larger request is refused by the transport
   * before it is parsed.
   */
  public static int publicMessageBytes(int maxMessageBytes, GatewayLimits limits) {
    return Math.min(maxMessageBytes, limits.input().maxRequestBytes());
  }

  public ChatPipeline pipeline() {
    return pipeline;
  }

  public ClientLimiter limiter() {
    return limiter;
  }

  public ServerBootstrap grpc() {
    return grpc;
  }

  /** The HTTP front door, or null when there is no HTTP port. */
  public HttpFrontDoor http() {
    return http;
  }

  /** The HTTP port, or 0 when there is none. */
  public int httpPort() {
    return http == null ? 0 : http.port();
  }

  /** Drains both doors: new calls are refused, those in flight may finish for {@code grace}. */
  public void close(Duration grace) {
    Thread h = null;
    if (http != null) {
      h = new Thread(() -> http.close(grace), "http-drain");
      h.start();
    }
    Draining.drain(grpc, grace);
    grpc.server().shutdownNow();
    if (h != null) {
      try {
        h.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public void close() {
    close(Duration.ZERO);
  }
}
