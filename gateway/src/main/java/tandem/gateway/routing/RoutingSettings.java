package tandem.gateway.routing;

import static tandem.gateway.config.GatewaySettings.DECODER_LOAD_FACTOR;
import static tandem.gateway.config.GatewaySettings.LOAD_REPORT_SECONDS;
import static tandem.gateway.config.GatewaySettings.RESOLVE_SECONDS;

import java.time.Duration;
import tandem.common.config.SettingValues;
import tandem.gateway.config.GatewaySettings;

/**
 * How the gateway finds and picks backend replicas (docs/gateway.md, "Routing").
 *
 * @param resolvePeriod how often backend names are looked up again and failed replicas retried
 * @param decoderLoadFactor bounded-load factor of decoder placement (>= 1; 1.25 = at most 25 % over
 *     the mean)
 * @param loadReportTtl how long a decoder's load report counts
 */
public record RoutingSettings(
    Duration resolvePeriod, double decoderLoadFactor, Duration loadReportTtl) {
  public RoutingSettings {
    if (resolvePeriod.isZero() || resolvePeriod.isNegative()) {
      throw new IllegalArgumentException(
          RESOLVE_SECONDS.env() + " must be >= 1, got " + resolvePeriod.toSeconds());
    }
    if (!(decoderLoadFactor >= 1) || Double.isInfinite(decoderLoadFactor)) {
      throw new IllegalArgumentException(
          DECODER_LOAD_FACTOR.env() + " must be a number >= 1, got " + decoderLoadFactor);
    }
    if (loadReportTtl.isNegative()) {
      throw new IllegalArgumentException(
          LOAD_REPORT_SECONDS.env() + " must be >= 0, got " + loadReportTtl.toSeconds());
    }
  }

  public static RoutingSettings defaults() {
    return from(GatewaySettings.defaults());
  }

  public static RoutingSettings from(SettingValues v) {
    return new RoutingSettings(
        Duration.ofSeconds(v.get(RESOLVE_SECONDS)),
        v.get(DECODER_LOAD_FACTOR),
        Duration.ofSeconds(v.get(LOAD_REPORT_SECONDS)));
  }
}
