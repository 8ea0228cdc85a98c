package tandem.gateway.limits;

import java.util.function.LongSupplier;

/** Opens ClientLimiter's clock for tests in other packages. */
public final class ClientLimiterTesting {
  private ClientLimiterTesting() {}

  public static ClientLimiter withClock(GatewayLimits limits, LongSupplier nanoClock) {
    return new ClientLimiter(limits, nanoClock);
  }
}
