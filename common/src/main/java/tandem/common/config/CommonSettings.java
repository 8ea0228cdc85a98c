package tandem.common.config;

import java.util.List;

/**
 * The settings every server shares, declared once. A service's registry lists the ones it reads beside its own;
 * {@link #NETWORK} (connections, draining, probes, TLS) applies to every network server and is read by
 * {@code tandem.common.grpc} and {@code tandem.common.security}.
 */
public final class CommonSettings {
  private CommonSettings() {}

  public static final Setting<String> MODEL = Setting.string("model", "TANDEM_MODEL", null,
      "Checkpoint folder, or a Hugging Face repo id org/name[@revision] (downloaded into the HF cache; see docs/download.md).");
  public static final Setting<String> DEVICE = Setting.choice("device", "TANDEM_DEVICE", "cpu",
      "cpu or cuda; cuda falls back to cpu with a warning when no GPU is visible.", "cpu", "cuda");
  public static final Setting<String> DTYPE = Setting.choice("dtype", "TANDEM_DTYPE", "float32",
      "libtorch compute type: float32, or float16 on cuda.", "float32", "float16");
  public static final Setting<Integer> MAX_MESSAGE_BYTES = Setting.integer("max-message-bytes",
      "TANDEM_MAX_MESSAGE_BYTES", 128 << 20, 1, Integer.MAX_VALUE, "Largest gRPC message accepted or sent, bytes.");
  public static final Setting<Integer> METRICS_PORT = Setting.integer("metrics-port", "TANDEM_METRICS_PORT", 0, 0,
      65535, "Prometheus scrape port (HTTP /metrics); 0 = off.");

  /** The service port, whose default differs by service. */
  public static Setting<Integer> port(int def) {
    return Setting.integer("port", "TANDEM_PORT", def, 0, 65535, "gRPC port; 0 picks a free one.");
  }

  // ---- every network server
  public static final Setting<Integer> SHUTDOWN_GRACE_SECONDS = Setting.integer("shutdown-grace-seconds",
      "TANDEM_SHUTDOWN_GRACE_SECONDS", 25, 0, Integer.MAX_VALUE,
      "Seconds a stopping server lets the streams in flight finish (health NOT_SERVING and new calls UNAVAILABLE"
          + " meanwhile), then cancels the rest; keep it below Kubernetes' terminationGracePeriodSeconds.");
  public static final Setting<Integer> HEALTH_PORT = Setting.integer("health-port", "TANDEM_HEALTH_PORT", 0, 0, 65535,
      "Port of a second, plaintext server that answers grpc.health.v1 only, for Kubernetes probes of a TLS port;"
          + " 0 = none.");
  public static final Setting<Integer> KEEPALIVE_SECONDS = Setting.integer("keepalive-seconds",
      "TANDEM_KEEPALIVE_SECONDS", 60, 1, Integer.MAX_VALUE,
      "Seconds without traffic before the server pings a client to see that the connection is alive.");
  public static final Setting<Integer> KEEPALIVE_TIMEOUT_SECONDS = Setting.integer("keepalive-timeout-seconds",
      "TANDEM_KEEPALIVE_TIMEOUT_SECONDS", 20, 1, Integer.MAX_VALUE,
      "Seconds the server waits for the answer to its keepalive ping before it closes the connection.");
  public static final Setting<Integer> MAX_CONNECTION_AGE_SECONDS = Setting.integer("max-connection-age-seconds",
      "TANDEM_MAX_CONNECTION_AGE_SECONDS", 300, 0, Integer.MAX_VALUE,
      "Seconds a connection lives before the client is asked to reconnect (and so to re-resolve, reaching new"
          + " replicas); 0 = forever.");
  public static final Setting<Integer> MAX_CONNECTION_AGE_GRACE_SECONDS = Setting.integer(
      "max-connection-age-grace-seconds", "TANDEM_MAX_CONNECTION_AGE_GRACE_SECONDS", 900, 0, Integer.MAX_VALUE,
      "Seconds the calls of a connection past its age may still run before it is closed.");
  public static final Setting<Integer> MAX_STREAMS_PER_CONNECTION = Setting.integer("max-streams-per-connection",
      "TANDEM_MAX_STREAMS_PER_CONNECTION", 256, 1, Integer.MAX_VALUE,
      "Concurrent calls one connection may have open; more wait for one to end (HTTP/2 flow control).");

  /** Connections, draining and probes of every network server. */
  public static final SettingRegistry NETWORK = new SettingRegistry("network", List.of(SHUTDOWN_GRACE_SECONDS,
      HEALTH_PORT, KEEPALIVE_SECONDS, KEEPALIVE_TIMEOUT_SECONDS, MAX_CONNECTION_AGE_SECONDS,
      MAX_CONNECTION_AGE_GRACE_SECONDS, MAX_STREAMS_PER_CONNECTION));
}
