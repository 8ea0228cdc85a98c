package tandem.gateway.limits;

import java.util.function.LongSupplier;

/** Opens ClientLimiter's clock for tests in other packages. */
public final class ClientLimiterTesting {
  private ClientLimiterTesting() {}

  /** A limiter as it runs behind bearer-token auth: a (checked) token is the client key. */
  public static ClientLimiter withClock(GatewayLimits limits, LongSupplier nanoClock) {
    return new ClientLimiter(limits, true, nanoClock);
  }

  /**
   * {@code keyByToken} false: as with auth off, where the key is the peer address whatever token is
   * sent.
   */
  public static ClientLimiter withClock(
      GatewayLimits limits, LongSupplier nanoClock, boolean keyByToken) {
    return new ClientLimiter(limits, keyByToken, nanoClock);
  }
}
