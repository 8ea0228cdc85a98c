package tandem.common.grpc;

import io.grpc.BindableService;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;

/**
 * Builds a server the house way: from an injected {@link ServerBuilder} (so tests run in-process),
 * with {@code grpc.health.v1} and server reflection registered and the message size limit set on
 * purpose. Health starts as NOT_SERVING; call {@link #setServing} once the model is loaded and
 * warmed up.
 *
 * <p>When the service port speaks TLS, {@link #serveHealthOnly} adds a second, plaintext port that
 * answers {@code grpc.health.v1} and nothing else, from the same statuses: Kubernetes' native gRPC
 * probes cannot do TLS.
 */
public final class ServerBootstrap {
  private final Server server;
  private final HealthStatusManager health;
  private Server healthOnly;

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
    // health stays open for probes; reflection follows the services' auth policy (it lists the API
    // to anyone asking)
    builder.addService(health.getHealthService());
    builder.addService(
        ServerInterceptors.intercept(ProtoReflectionServiceV1.newInstance(), interceptors));
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
    Server server = builder.build().start();
    return new ServerBootstrap(server, health);
  }

  /** Connection settings of a network server; see {@link #withConnectionLimits}. */
  public record ConnectionLimits(
      int keepAliveSeconds,
      int keepAliveTimeoutSeconds,
      int maxConnectionAgeSeconds,
      int maxConnectionAgeGraceSeconds,
      int maxStreamsPerConnection) {
    public ConnectionLimits {
      if (keepAliveSeconds < 1
          || keepAliveTimeoutSeconds < 1
          || maxConnectionAgeSeconds < 0
          || maxConnectionAgeGraceSeconds < 0
          || maxStreamsPerConnection < 1) {
        throw new IllegalArgumentException(
            "connection settings out of range: keepalive "
                + keepAliveSeconds
                + " s (>= 1), keepalive timeout "
                + keepAliveTimeoutSeconds
                + " s (>= 1), max connection age "
                + maxConnectionAgeSeconds
                + " s (>= 0, 0 = forever), age grace "
                + maxConnectionAgeGraceSeconds
                + " s (>= 0), streams per connection "
                + maxStreamsPerConnection
                + " (>= 1)");
      }
    }

    public static ConnectionLimits fromEnv(Env env) {
      return new ConnectionLimits(
          env.get(CommonSettings.KEEPALIVE_SECONDS),
          env.get(CommonSettings.KEEPALIVE_TIMEOUT_SECONDS),
          env.get(CommonSettings.MAX_CONNECTION_AGE_SECONDS),
          env.get(CommonSettings.MAX_CONNECTION_AGE_GRACE_SECONDS),
          env.get(CommonSettings.MAX_STREAMS_PER_CONNECTION));
    }
  }

  /**
   * Applies TANDEM_KEEPALIVE_*, TANDEM_MAX_CONNECTION_AGE_* and TANDEM_MAX_STREAMS_PER_CONNECTION
   * to a network server's builder: dead peers are found by keepalive pings, connections are
   * recycled after their age (with a grace for the calls on them, so long-lived clients rebalance
   * over new replicas), and one connection cannot open unbounded concurrent streams. For the
   * services' network entry points; in-process servers have no connections.
   */
  public static ServerBuilder<?> withConnectionLimits(ServerBuilder<?> builder, Env env) {
    return withConnectionLimits(builder, ConnectionLimits.fromEnv(env));
  }

  /** As above, with explicit settings. */
  public static ServerBuilder<?> withConnectionLimits(
      ServerBuilder<?> builder, ConnectionLimits c) {
    builder.keepAliveTime(c.keepAliveSeconds(), TimeUnit.SECONDS);
    builder.keepAliveTimeout(c.keepAliveTimeoutSeconds(), TimeUnit.SECONDS);
    if (c.maxConnectionAgeSeconds() > 0) {
      builder.maxConnectionAge(c.maxConnectionAgeSeconds(), TimeUnit.SECONDS);
      builder.maxConnectionAgeGrace(c.maxConnectionAgeGraceSeconds(), TimeUnit.SECONDS);
    }
    if (builder instanceof NettyServerBuilder netty) {
      netty.maxConcurrentCallsPerConnection(c.maxStreamsPerConnection());
    } else {
      throw new IllegalArgumentException(
          "per-connection stream limits need a Netty server builder, got "
              + builder.getClass().getName());
    }
    return builder;
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

  /**
   * Also serves {@code grpc.health.v1} — and nothing else: none of this server's services, no
   * reflection — on a second server built by {@code builder}, answering from this server's statuses
   * (NOT_SERVING until {@link #setServing}, NOT_SERVING again while draining). The second server
   * stops when this one terminates, so the existing shutdown paths need not know about it.
   */
  public synchronized Server serveHealthOnly(ServerBuilder<?> builder) throws IOException {
    if (healthOnly != null)
      throw new IllegalStateException(
          "the health-only server already runs on port " + healthOnly.getPort());
    Server h = builder.addService(health.getHealthService()).build().start();
    healthOnly = h;
    Thread stopper =
        new Thread(
            () -> {
              try {
                server.awaitTermination();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              } finally {
                h.shutdownNow();
              }
            },
            "health-port-" + h.getPort() + "-stopper");
    stopper.setDaemon(true);
    stopper.start();
    return h;
  }

  /**
   * {@link #serveHealthOnly} on {@code port} in plaintext, for a process's network entry point;
   * nothing when {@code port} is 0 (off, the default outside Kubernetes).
   */
  public Server serveHealthOnlyOn(int port) throws IOException {
    if (port == 0) return null;
    if (port < 0 || port > 65535)
      throw new IllegalArgumentException(
          "health port " + port + " is out of range 1-65535 (0 = off)");
    if (port == server.getPort()) {
      throw new IllegalArgumentException(
          "health port "
              + port
              + " is also the service port: the health-only server "
              + "needs a port of its own");
    }
    try {
      return serveHealthOnly(
          Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()));
    } catch (IOException e) {
      throw new IOException("cannot open the health port " + port + ": " + e.getMessage(), e);
    }
  }

  /**
   * {@link #serveHealthOnlyOn} the port named by TANDEM_HEALTH_PORT (nothing when unset or 0). For
   * the services' network entry points only: an in-process server (tests, the all-in-one server's
   * backends) must not read it.
   */
  public Server serveHealthOnlyFromEnv(Env env) throws IOException {
    int port = env.get(CommonSettings.HEALTH_PORT);
    try {
      return serveHealthOnlyOn(port);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          CommonSettings.HEALTH_PORT.env() + "=" + port + ": " + e.getMessage(), e);
    }
  }

  /** The health-only server, or null when none runs. */
  public synchronized Server healthOnlyServer() {
    return healthOnly;
  }

  public Server server() {
    return server;
  }

  public int port() {
    return server.getPort();
  }
}
