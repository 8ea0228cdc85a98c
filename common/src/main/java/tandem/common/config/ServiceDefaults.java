package tandem.common.config;

/**
 * The well-known ports, which the services, the CLI and the Helm chart (and its tests) agree on,
 * and the one variable that is no server's setting. Every server setting is declared once, with its
 * variable and default, as a {@link Setting} in its service's registry ({@link CommonSettings} for
 * the shared ones).
 */
public final class ServiceDefaults {
  private ServiceDefaults() {}

  /** Public Chat port of the gateway (and of the all-in-one server). */
  public static final int GATEWAY_PORT = 50051;

  /** vision-svc gRPC port. */
  public static final int VISION_PORT = 50052;

  /** decoder-svc gRPC port. */
  public static final int DECODER_PORT = 50053;

  /**
   * Prometheus scrape port (HTTP /metrics) the Helm chart gives every service (the services' own
   * default is off).
   */
  public static final int METRICS_PORT = 9464;

  /**
   * Plaintext health-only port the Helm chart gives a service whose gRPC port serves TLS
   * (TANDEM_HEALTH_PORT; the services' own default is 0, off).
   */
  public static final int HEALTH_PORT = 50050;

  /**
   * The HTTP port (OpenAI-compatible API, playground) of the all-in-one server and of the chart's
   * gateway.
   */
  public static final int HTTP_PORT = 8080;

  /**
   * Client side ({@code vlm chat}, {@code vlm bench … --server}): the bearer token to send when
   * {@code --token} is not given, so it stays out of shell history and process listings.
   */
  public static final String ENV_CLIENT_TOKEN = "TANDEM_CLIENT_TOKEN";
}
