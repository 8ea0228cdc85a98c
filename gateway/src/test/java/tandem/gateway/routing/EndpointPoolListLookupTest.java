package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.inprocess.InProcessChannelBuilder;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * docs/gateway.md: "A failed lookup keeps the known replicas". With an address list of two names, a
 * transient lookup failure of one name must not drop (and shut down) that name's replicas.
 */
class EndpointPoolListLookupTest {
  @Test
  void aFailedLookupOfOneNameInAListKeepsThatNamesKnownReplicas() throws Exception {
    Map<String, String[]> dns = new ConcurrentHashMap<>();
    dns.put("vision-a", new String[] {"10.77.0.1", "10.77.0.2"});
    dns.put("vision-b", new String[] {"10.77.1.1"});
    EndpointPool.Resolver resolver =
        host -> {
          String[] ips = dns.get(host);
          if (ips == null) throw new UnknownHostException(host + ": temporary failure");
          InetAddress[] out = new InetAddress[ips.length];
          for (int i = 0; i < ips.length; i++) out[i] = InetAddress.getByName(ips[i]);
          return out;
        };
    try (EndpointPool pool =
        new EndpointPool(
            "vision-svc",
            BackendTarget.parse("TANDEM_VISION_ADDR", "vision-a:50052,vision-b:50052"),
            (address, authority) ->
                InProcessChannelBuilder.forName(address.getAddress().getHostAddress()).build(),
            resolver,
            Duration.ofMinutes(10))) {
      assertEquals(3, pool.endpoints().size());
      List<Endpoint> before = pool.endpoints();

      dns.remove("vision-a"); // a transient DNS failure of one of the two names
      pool.refresh();

      assertEquals(
          List.of("10.77.0.1:50052", "10.77.0.2:50052", "10.77.1.1:50052"),
          pool.endpoints().stream().map(Endpoint::id).toList(),
          "a failed lookup of vision-a dropped its known replicas (lastProblem: "
              + pool.lastProblem()
              + ")");
      for (Endpoint e : before)
        assertEquals(false, e.channel().isShutdown(), e.id() + "'s channel was shut down");
    }
  }
}
