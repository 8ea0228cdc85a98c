package tandem.common.config;

/**
 * One source of truth for ports and environment variable names. The services, the CLI, the Helm chart tests and the
 * docs all read these constants; change a value here and the k8s tests tell you what else must follow.
 */
public final class ServiceDefaults {
  private ServiceDefaults() {}

  /** Public Chat port of the gateway (and of the all-in-one server). */
  public static final int GATEWAY_PORT = 50051;
  /** vision-svc gRPC port. */
  public static final int VISION_PORT = 50052;
  /** decoder-svc gRPC port. */
  public static final int DECODER_PORT = 50053;
  /** Prometheus scrape port (HTTP /metrics), every service. */
  public static final int METRICS_PORT = 9464;

  /** Checkpoint folder (or Hugging Face repo id once downloads exist). */
  public static final String ENV_MODEL = "TANDEM_MODEL";
  /** cpu or cuda. */
  public static final String ENV_DEVICE = "TANDEM_DEVICE";
  /** Port the service listens on. */
  public static final String ENV_PORT = "TANDEM_PORT";
  /** gateway: address of vision-svc (host:port). */
  public static final String ENV_VISION_ADDR = "TANDEM_VISION_ADDR";
  /** gateway: address of decoder-svc (host:port). */
  public static final String ENV_DECODER_ADDR = "TANDEM_DECODER_ADDR";
}
