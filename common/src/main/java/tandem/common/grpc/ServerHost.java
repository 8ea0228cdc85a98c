package tandem.common.grpc;

import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.security.TlsSettings;
import tandem.common.telemetry.Telemetry;

/**
 * Where and how a service is served: the builder its port comes from, the interceptors and the
 * telemetry every call passes through, how long a drain lets calls finish, and an optional
 * plaintext port that answers health only. Each server has one {@code start(settings, host)}; tests
 * host it in-process with {@link #inProcess}, the network entry points with {@link #network}.
 *
 * <p>The host borrows the telemetry: whoever created it closes it, after the server (the CLI
 * command, a test).
 */
public record ServerHost(
    ServerBuilder<?> builder,
    List<ServerInterceptor> interceptors,
    Telemetry telemetry,
    Duration shutdownGrace,
    int healthPort) {

  /**
   * The drain grace of a host that was not given one (in-process: tests, the all-in-one server's
   * backends).
   */
  public static final Duration DEFAULT_SHUTDOWN_GRACE =
      Duration.ofSeconds(CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultValue());

  public ServerHost {
    interceptors = List.copyOf(interceptors);
    if (shutdownGrace.isNegative())
      throw new IllegalArgumentException("shutdown grace must be >= 0, got " + shutdownGrace);
    if (healthPort < 0 || healthPort > 65535) {
      throw new IllegalArgumentException(
          "health port " + healthPort + " is out of range 1-65535 (0 = off)");
    }
  }

  /**
   * {@code builder} with no interceptors, no telemetry, the default grace and no health-only port.
   */
  public static ServerHost inProcess(ServerBuilder<?> builder) {
    return new ServerHost(builder, List.of(), Telemetry.noop(), DEFAULT_SHUTDOWN_GRACE, 0);
  }

  /**
   * A network entry point on {@code builder}: the drain grace from TANDEM_SHUTDOWN_GRACE_SECONDS
   * and the health-only port from TANDEM_HEALTH_PORT (none when unset). A malformed value fails
   * here, not at shutdown.
   */
  public static ServerHost network(ServerBuilder<?> builder, Env env, Telemetry telemetry) {
    return new ServerHost(
        builder,
        List.of(),
        telemetry,
        Draining.graceFromEnv(env),
        env.get(CommonSettings.HEALTH_PORT));
  }

  /**
   * An internal service's port (vision-svc, decoder-svc): TANDEM_TLS_* on it (plaintext when unset;
   * with TANDEM_TLS_CLIENT_AUTH=require only callers with a client certificate from
   * TANDEM_TLS_CLIENT_CA get through), the connection limits, and {@link #network}'s grace and
   * health port.
   */
  public static ServerHost internal(int port, Env env, Telemetry telemetry) throws IOException {
    return network(TlsSettings.internalServerBuilder(port, env), env, telemetry);
  }

  public ServerHost withTelemetry(Telemetry t) {
    return new ServerHost(builder, interceptors, t, shutdownGrace, healthPort);
  }

  public ServerHost withInterceptors(List<ServerInterceptor> more) {
    return new ServerHost(builder, more, telemetry, shutdownGrace, healthPort);
  }

  public ServerHost withShutdownGrace(Duration grace) {
    return new ServerHost(builder, interceptors, telemetry, grace, healthPort);
  }

  /**
   * Starts {@code services} NOT_SERVING (call {@link ServerBootstrap#setServing} when warm), behind
   * the host's interceptors, then {@link GrpcRejections#interceptor()} (so what a handler throws
   * becomes its status), then the telemetry's (outermost: its span covers the rest). Opens the
   * health-only port when there is one.
   */
  public ServerBootstrap start(int maxMessageBytes, BindableService... services)
      throws IOException {
    List<ServerInterceptor> all = new ArrayList<>(interceptors);
    all.add(GrpcRejections.interceptor());
    all.add(telemetry.serverInterceptor()); // last in the list runs first
    ServerBootstrap boot = ServerBootstrap.start(builder, maxMessageBytes, all, services);
    try {
      boot.serveHealthOnlyOn(healthPort);
    } catch (IOException | RuntimeException e) {
      boot.server().shutdownNow();
      throw e;
    }
    return boot;
  }

  /** {@link Draining#drain} with the host's grace: true when every call finished within it. */
  public boolean drain(ServerBootstrap boot) {
    return Draining.drain(boot, shutdownGrace);
  }

  /**
   * On JVM shutdown (SIGTERM, Ctrl-C): {@code closeServer} (it drains), then {@code telemetry},
   * which the server only borrowed, so the last spans and metrics are exported after the last call
   * ended.
   */
  public static void closeOnShutdown(Runnable closeServer, Telemetry telemetry, String threadName) {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  closeServer.run();
                  telemetry.close();
                },
                threadName));
  }
}
