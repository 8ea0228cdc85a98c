package tandem.gateway.routing;

import java.time.Duration;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/**
 * How the gateway finds and picks backend replicas (docs/gateway.md, "Routing").
 *
 * @param resolvePeriod how often backend names are looked up again and failed replicas retried
 * @param decoderLoadFactor bounded-load factor of decoder placement (>= 1; 1.25 = at most 25 % over the mean)
 * @param loadReportTtl how long a decoder's load report counts
 */
public record RoutingSettings(Duration resolvePeriod, double decoderLoadFactor, Duration loadReportTtl) {
  public RoutingSettings {
    if (resolvePeriod.isZero() || resolvePeriod.isNegative()) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS + " must be >= 1, got "
          + resolvePeriod.toSeconds());
    }
    if (!(decoderLoadFactor >= 1) || Double.isInfinite(decoderLoadFactor)) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR + " must be a number >= 1, got "
          + decoderLoadFactor);
    }
    if (loadReportTtl.isNegative()) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS + " must be >= 0, got "
          + loadReportTtl.toSeconds());
    }
  }

  public static RoutingSettings defaults() {
    return fromEnv(new Env(java.util.Map.of()));
  }

  public static RoutingSettings fromEnv(Env env) {
    int resolve = env.integer(ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS, ServiceDefaults.DEFAULT_GATEWAY_RESOLVE_SECONDS);
    if (resolve < 1) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS + "=" + resolve + " must be >= 1");
    }
    String f = env.string(ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR, ServiceDefaults.DEFAULT_GATEWAY_DECODER_LOAD_FACTOR);
    double factor;
    try {
      factor = Double.parseDouble(f);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR + "=" + f + " is not a number");
    }
    int ttl = env.integer(ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS, ServiceDefaults.DEFAULT_GATEWAY_LOAD_REPORT_SECONDS);
    if (ttl < 0) {
      throw new IllegalArgumentException(ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS + "=" + ttl + " must be >= 0");
    }
    return new RoutingSettings(Duration.ofSeconds(resolve), factor, Duration.ofSeconds(ttl));
  }
}
