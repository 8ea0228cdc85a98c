package tandem.cli;

import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Option;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/**
 * The connection flags every {@code vlm serve} command takes: keepalive and connection aging of its gRPC port. A
 * flag overrides its TANDEM_* variable; {@link #env()} is the process environment with the flags laid over it, the
 * one place the servers read these settings from.
 */
public final class ConnectionOptions {
  @Option(names = "--keepalive-seconds", description = "Seconds without traffic before the server pings a client (env "
      + ServiceDefaults.ENV_KEEPALIVE_SECONDS + ", default " + ServiceDefaults.DEFAULT_KEEPALIVE_SECONDS + ").")
  Integer keepAliveSeconds;

  @Option(names = "--keepalive-timeout-seconds", description = "Seconds to wait for a keepalive answer (env "
      + ServiceDefaults.ENV_KEEPALIVE_TIMEOUT_SECONDS + ", default " + ServiceDefaults.DEFAULT_KEEPALIVE_TIMEOUT_SECONDS + ").")
  Integer keepAliveTimeoutSeconds;

  @Option(names = "--max-connection-age-seconds", description = "Seconds a connection lives before the client is asked to"
      + " reconnect (and so to re-resolve); 0 = forever (env " + ServiceDefaults.ENV_MAX_CONNECTION_AGE_SECONDS
      + ", default " + ServiceDefaults.DEFAULT_MAX_CONNECTION_AGE_SECONDS + ").")
  Integer maxConnectionAgeSeconds;

  @Option(names = "--max-connection-age-grace-seconds", description = "Seconds the calls of an aged connection may still"
      + " run (env " + ServiceDefaults.ENV_MAX_CONNECTION_AGE_GRACE_SECONDS + ", default "
      + ServiceDefaults.DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS + ").")
  Integer maxConnectionAgeGraceSeconds;

  /** The environment with the given flags over it. */
  public Env env() {
    return new Env(overlay(System.getenv()));
  }

  Map<String, String> overlay(Map<String, String> base) {
    Map<String, String> m = new HashMap<>(base);
    put(m, ServiceDefaults.ENV_KEEPALIVE_SECONDS, keepAliveSeconds);
    put(m, ServiceDefaults.ENV_KEEPALIVE_TIMEOUT_SECONDS, keepAliveTimeoutSeconds);
    put(m, ServiceDefaults.ENV_MAX_CONNECTION_AGE_SECONDS, maxConnectionAgeSeconds);
    put(m, ServiceDefaults.ENV_MAX_CONNECTION_AGE_GRACE_SECONDS, maxConnectionAgeGraceSeconds);
    return m;
  }

  static void put(Map<String, String> m, String env, Object value) {
    if (value != null) m.put(env, value.toString());
  }
}
