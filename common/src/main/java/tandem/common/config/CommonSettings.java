package tandem.common.config;

import java.util.List;

/**
 * The settings every server shares, declared once. A service's registry lists the ones it reads
 * beside its own; {@link #NETWORK} (connections, draining, probes, TLS) applies to every network
 * server and is read by {@code tandem.common.grpc} and {@code tandem.common.security}.
 */
public final class CommonSettings {
  private CommonSettings() {}

  public static final Setting<String> MODEL =
      Setting.string(
          "model",
          "TANDEM_MODEL",
          null,
          "Checkpoint folder, or a Hugging Face repo id org/name[@revision] (downloaded into the HF"
              + " cache; see docs/download.md).");
  public static final Setting<String> DEVICE =
      Setting.choice(
          "device",
          "TANDEM_DEVICE",
          "cpu",
          "cpu or cuda; cuda falls back to cpu with a warning when no GPU is visible.",
          "cpu",
          "cuda");
  public static final Setting<String> DTYPE =
      Setting.choice(
          "dtype",
          "TANDEM_DTYPE",
          "float32",
          "libtorch compute type: float32, or float16 on cuda.",
          "float32",
          "float16");
  public static final Setting<Integer> MAX_MESSAGE_BYTES =
      Setting.integer(
          "max-message-bytes",
          "TANDEM_MAX_MESSAGE_BYTES",
          128 << 20,
          1,
          Integer.MAX_VALUE,
          "Largest gRPC message accepted or sent, bytes.");
  public static final Setting<Integer> METRICS_PORT =
      Setting.integer(
          "metrics-port",
          "TANDEM_METRICS_PORT",
          0,
          0,
          65535,
          "Prometheus scrape port (HTTP /metrics); 0 = off.");

  // ---- vision-svc's image limits, which the gateway enforces too before it calls vision-svc
  public static final Setting<Integer> MAX_IMAGES =
      Setting.integer(
          "max-images",
          "TANDEM_VISION_MAX_IMAGES",
          16,
          1,
          Integer.MAX_VALUE,
          "Most images in one request (the gateway refuses more before any byte goes to"
              + " vision-svc).");
  public static final Setting<Integer> MAX_IMAGE_BYTES =
      Setting.intBytes(
          "max-image-bytes",
          "TANDEM_VISION_MAX_IMAGE_BYTES",
          20 << 20,
          "Largest encoded image of a request (the gateway's HTTP API refuses"
              + " a larger data: URI or fetched image before vision-svc sees it).");

  /** The service port, whose default differs by service. */
  public static Setting<Integer> port(int def) {
    return Setting.integer("port", "TANDEM_PORT", def, 0, 65535, "gRPC port; 0 picks a free one.");
  }

  // ---- every network server
  public static final Setting<Integer> SHUTDOWN_GRACE_SECONDS =
      Setting.integer(
          "shutdown-grace-seconds",
          "TANDEM_SHUTDOWN_GRACE_SECONDS",
          25,
          0,
          Integer.MAX_VALUE,
          "Seconds a stopping server lets the streams in flight finish (health NOT_SERVING and new"
              + " calls UNAVAILABLE meanwhile), then cancels the rest; keep it below Kubernetes'"
              + " terminationGracePeriodSeconds.");
  public static final Setting<Integer> HEALTH_PORT =
      Setting.integer(
          "health-port",
          "TANDEM_HEALTH_PORT",
          0,
          0,
          65535,
          "Port of a second, plaintext server that answers grpc.health.v1 only, for Kubernetes"
              + " probes of a TLS port; 0 = none.");
  public static final Setting<Integer> KEEPALIVE_SECONDS =
      Setting.integer(
          "keepalive-seconds",
          "TANDEM_KEEPALIVE_SECONDS",
          60,
          1,
          Integer.MAX_VALUE,
          "Seconds without traffic before the server pings a client to see that the connection is"
              + " alive.");
  public static final Setting<Integer> KEEPALIVE_TIMEOUT_SECONDS =
      Setting.integer(
          "keepalive-timeout-seconds",
          "TANDEM_KEEPALIVE_TIMEOUT_SECONDS",
          20,
          1,
          Integer.MAX_VALUE,
          "Seconds the server waits for the answer to its keepalive ping before it closes the"
              + " connection.");
  public static final Setting<Integer> MAX_CONNECTION_AGE_SECONDS =
      Setting.integer(
          "max-connection-age-seconds",
          "TANDEM_MAX_CONNECTION_AGE_SECONDS",
          300,
          0,
          Integer.MAX_VALUE,
          "Seconds a connection lives before the client is asked to reconnect (and so to"
              + " re-resolve, reaching new replicas); 0 = forever.");
  public static final Setting<Integer> MAX_CONNECTION_AGE_GRACE_SECONDS =
      Setting.integer(
          "max-connection-age-grace-seconds",
          "TANDEM_MAX_CONNECTION_AGE_GRACE_SECONDS",
          900,
          0,
          Integer.MAX_VALUE,
          "Seconds the calls of a connection past its age may still run before it is closed.");
  public static final Setting<Integer> MAX_STREAMS_PER_CONNECTION =
      Setting.integer(
          "max-streams-per-connection",
          "TANDEM_MAX_STREAMS_PER_CONNECTION",
          256,
          1,
          Integer.MAX_VALUE,
          "Concurrent calls one connection may have open; more wait for one to end (HTTP/2 flow"
              + " control).");

  // ---- TLS and auth (docs/security.md); all off when unset, the localhost default
  public static final Setting<String> TLS_CERT =
      Setting.string(
          "tls-cert",
          "TANDEM_TLS_CERT",
          null,
          "PEM certificate chain of the service port; with the key it turns TLS on.");
  public static final Setting<String> TLS_KEY =
      Setting.string(
          "tls-key",
          "TANDEM_TLS_KEY",
          null,
          "PKCS#8 PEM private key of the service port's certificate.");
  public static final Setting<String> TLS_CLIENT_CA =
      Setting.string(
          "tls-client-ca",
          "TANDEM_TLS_CLIENT_CA",
          null,
          "PEM CA bundle that client certificates must chain to (mTLS).");
  public static final Setting<String> TLS_CLIENT_AUTH =
      Setting.choice(
              "tls-client-auth",
              "TANDEM_TLS_CLIENT_AUTH",
              null,
              "none, optional (verified when presented; the default when a client CA is set) or"
                  + " require (the gateway answers Chat without one UNAUTHENTICATED; vision-svc and"
                  + " decoder-svc refuse the handshake).",
              "none",
              "optional",
              "require")
          .withDefaultText("optional with a client CA, else none");
  public static final Setting<Integer> TLS_RELOAD_SECONDS =
      Setting.integer(
          "tls-reload-seconds",
          "TANDEM_TLS_RELOAD_SECONDS",
          60,
          1,
          Integer.MAX_VALUE,
          "How often certificate, key and CA files are checked for changes (loaded without a"
              + " restart), seconds.");
  public static final Setting<String> TLS_ALLOWED_PEERS =
      Setting.string(
          "tls-allowed-peers",
          "TANDEM_TLS_ALLOWED_PEERS",
          "",
          "vision-svc/decoder-svc with mTLS: comma-separated names (DNS SAN or subject CN) a client"
              + " certificate must carry, else PERMISSION_DENIED; empty = any certificate from the"
              + " client CA.");
  public static final Setting<String> BACKEND_TLS_CA =
      Setting.string(
          "backend-tls-ca",
          "TANDEM_BACKEND_TLS_CA",
          null,
          "Gateway to vision-svc/decoder-svc: PEM CA of the services' certificates; set to dial"
              + " them over TLS.");
  public static final Setting<String> BACKEND_TLS_CERT =
      Setting.string(
          "backend-tls-cert",
          "TANDEM_BACKEND_TLS_CERT",
          null,
          "Gateway to the backends: the client certificate the gateway presents (mTLS), PEM.");
  public static final Setting<String> BACKEND_TLS_KEY =
      Setting.string(
          "backend-tls-key",
          "TANDEM_BACKEND_TLS_KEY",
          null,
          "Gateway to the backends: PKCS#8 PEM key of the backend client certificate.");
  public static final Setting<String> AUTH_TOKENS_FILE =
      Setting.string(
          "auth-tokens-file",
          "TANDEM_AUTH_TOKENS_FILE",
          null,
          "File of bearer tokens Chat accepts, one per line (# comments), re-read when it"
              + " changes.");
  public static final Setting<String> AUTH_TOKENS =
      Setting.string(
          "auth-tokens",
          "TANDEM_AUTH_TOKENS",
          null,
          "Comma-separated bearer tokens (tests, simple setups; the Helm chart uses the file, never"
              + " this).");

  /**
   * TLS on a service's port and the gateway's backend channels, and the gateway's bearer tokens.
   */
  public static final SettingRegistry SECURITY =
      new SettingRegistry(
          "security",
          List.of(
              TLS_CERT,
              TLS_KEY,
              TLS_CLIENT_CA,
              TLS_CLIENT_AUTH,
              TLS_RELOAD_SECONDS,
              TLS_ALLOWED_PEERS,
              BACKEND_TLS_CA,
              BACKEND_TLS_CERT,
              BACKEND_TLS_KEY,
              AUTH_TOKENS_FILE,
              AUTH_TOKENS));

  /** Connections, draining and probes of every network server. */
  public static final SettingRegistry NETWORK =
      new SettingRegistry(
          "network",
          List.of(
              SHUTDOWN_GRACE_SECONDS,
              HEALTH_PORT,
              KEEPALIVE_SECONDS,
              KEEPALIVE_TIMEOUT_SECONDS,
              MAX_CONNECTION_AGE_SECONDS,
              MAX_CONNECTION_AGE_GRACE_SECONDS,
              MAX_STREAMS_PER_CONNECTION));
}
