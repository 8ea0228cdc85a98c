package tandem.common.grpc;

import io.grpc.Server;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;

/**
 * Graceful shutdown of a gRPC server: health goes NOT_SERVING (load balancers stop routing), the
 * server stops accepting calls — a new call on an open connection gets UNAVAILABLE, so a client
 * retries elsewhere — and the calls in flight may finish for up to a grace period; whatever still
 * runs then is cancelled.
 */
public final class Draining {
  private Draining() {}

  /** TANDEM_SHUTDOWN_GRACE_SECONDS: how long a draining server lets its streams finish. */
  public static Duration graceFromEnv(Env env) {
    return Duration.ofSeconds(env.get(CommonSettings.SHUTDOWN_GRACE_SECONDS));
  }

  /**
   * Drains {@code bootstrap}'s server: returns true when every call finished within {@code grace},
   * false when some had to be cancelled. Blocks for at most about {@code grace} (plus a moment for
   * the forced stop). An interrupt ends the wait: the server is stopped at once, the thread's
   * interrupt flag is kept, and the result is false.
   */
  public static boolean drain(ServerBootstrap bootstrap, Duration grace) {
    bootstrap.enterDraining();
    return drain(bootstrap.server(), grace);
  }

  /** Same for a bare server (no health service to flip). */
  public static boolean drain(Server server, Duration grace) {
    server.shutdown();
    try {
      if (server.awaitTermination(grace.toNanos(), TimeUnit.NANOSECONDS)) return true;
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.shutdownNow();
    }
    return false;
  }
}
