package tandem.common.grpc;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.util.List;

/**
 * Builds a server the house way: from an injected {@link ServerBuilder} (so tests run in-process), with
 * {@code grpc.health.v1} and server reflection registered and the message size limit set on purpose. Health starts
 * as NOT_SERVING; call {@link #setServing} once the model is loaded and warmed up.
 */
public final class ServerBootstrap {
  private final Server server;
  private final HealthStatusManager health;

  private ServerBootstrap(Server server, HealthStatusManager health) {
    this.server = server;
    this.health = health;
  }

  public static ServerBootstrap start(
      ServerBuilder<?> builder,
      int maxMessageBytes,
      List<ServerInterceptor> interceptors,
      BindableService... services)
      throws IOException {
    HealthStatusManager health = new HealthStatusManager();
    builder.maxInboundMessageSize(maxMessageBytes);
    for (BindableService s : services) {
      ServerServiceDefinition def = s.bindService();
      builder.addService(ServerInterceptors.intercept(def, interceptors));
      health.setStatus(def.getServiceDescriptor().getName(), ServingStatus.NOT_SERVING);
    }
    builder.addService(health.getHealthService());
    builder.addService(ProtoReflectionServiceV1.newInstance());
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
    Server server = builder.build().start();
    return new ServerBootstrap(server, health);
  }

  /** Marks every registered service (and the server as a whole) SERVING. */
  public void setServing() {
    for (var s : server.getServices()) {
      String name = s.getServiceDescriptor().getName();
      if (!name.startsWith("grpc.")) health.setStatus(name, ServingStatus.SERVING);
    }
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
  }

  /** Starts draining: health says NOT_SERVING so load balancers stop sending new calls. */
  public void enterDraining() {
    health.enterTerminalState();
  }

  public Server server() {
    return server;
  }

  public int port() {
    return server.getPort();
  }
}
