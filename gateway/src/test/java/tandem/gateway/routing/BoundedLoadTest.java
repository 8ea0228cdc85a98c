package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BoundedLoadTest {
  final List<ManagedChannel> channels = new ArrayList<>();

  List<Endpoint> endpoints(int n) {
    List<Endpoint> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ManagedChannel c = InProcessChannelBuilder.forName("nobody-" + i).build();
      channels.add(c);
      out.add(new Endpoint("10.0.1." + i + ":50053", c));
    }
    return out;
  }

  @AfterEach
  void close() {
    channels.forEach(ManagedChannel::shutdownNow);
  }

  @Test
  void anUnloadedReplicaSetSendsAKeyToItsRendezvousOwner() {
    List<Endpoint> eps = endpoints(3);
    for (int k = 0; k < 50; k++) {
      long key = Rendezvous.hashString("conversation-" + k);
      assertEquals(
          Rendezvous.rank(key, eps).get(0), BoundedLoad.pick(key, eps, Set.of(), e -> 0, 1.25));
    }
  }

  @Test
  void oneHotKeyCannotPinAReplicaAboveTheBound() {
    List<Endpoint> eps = endpoints(3);
    Map<Endpoint, Integer> load = new HashMap<>();
    long hot = Rendezvous.hashString("hot");
    for (int i = 0; i < 300; i++) {
      Endpoint e = BoundedLoad.pick(hot, eps, Set.of(), x -> load.getOrDefault(x, 0), 1.25);
      load.merge(e, 1, Integer::sum);
      int total = i + 1;
      for (int l : load.values())
        assertTrue(l <= Math.ceil(1.25 * total / 3.0), "load " + load + " after " + total);
    }
    assertEquals(3, load.size(), "the hot key spilled over to every replica");
    assertTrue(
        load.get(Rendezvous.rank(hot, eps).get(0))
            >= load.values().stream().mapToInt(Integer::intValue).max().orElseThrow());
  }

  @Test
  void aLoadedOwnerGivesTheKeyToTheNextInItsRankingNotToAnyReplica() {
    List<Endpoint> eps = endpoints(4);
    long key = Rendezvous.hashString("k");
    List<Endpoint> ranked = Rendezvous.rank(key, eps);
    Endpoint first = ranked.get(0);
    Endpoint picked = BoundedLoad.pick(key, eps, Set.of(), e -> e == first ? 10 : 0, 1.25);
    assertEquals(ranked.get(1), picked);
  }

  @Test
  void excludedReplicasAreSkippedAndNoneLeftIsNull() {
    List<Endpoint> eps = endpoints(2);
    long key = Rendezvous.hashString("k");
    Endpoint owner = Rendezvous.rank(key, eps).get(0);
    Endpoint other = Rendezvous.rank(key, eps).get(1);
    assertEquals(other, BoundedLoad.pick(key, eps, Set.of(owner), e -> 0, 1.25));
    assertEquals(null, BoundedLoad.pick(key, eps, Set.copyOf(eps), e -> 0, 1.25));
  }
}
