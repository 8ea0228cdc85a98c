package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RendezvousTest {
  static final List<String> THREE = List.of("10.0.0.1:50052", "10.0.0.2:50052", "10.0.0.3:50052");

  static Map<Long, String> owners(List<String> ids, int keys) {
    Map<Long, String> out = new HashMap<>();
    for (long k = 0; k < keys; k++) {
      long key = Rendezvous.hashString("image-" + k);
      out.put(key, Rendezvous.ownerOf(key, ids));
    }
    return out;
  }

  @Test
  void keysSpreadEvenlyOverTheReplicas() {
    Map<String, Integer> count = new HashMap<>();
    owners(THREE, 3000).values().forEach(id -> count.merge(id, 1, Integer::sum));
    assertEquals(3, count.size());
    for (int c : count.values()) assertTrue(c > 850 && c < 1150, count.toString());
  }

  @Test
  void whenAReplicaLeavesOnlyItsKeysMove() {
    Map<Long, String> before = owners(THREE, 2000);
    List<String> two = new ArrayList<>(THREE);
    two.remove(1);
    Map<Long, String> after = owners(two, 2000);
    for (Map.Entry<Long, String> e : before.entrySet()) {
      if (!e.getValue().equals(THREE.get(1))) assertEquals(e.getValue(), after.get(e.getKey()));
    }
  }

  @Test
  void whenAReplicaJoinsKeysMoveOnlyToItAndAboutAQuarterOfThem() {
    Map<Long, String> before = owners(THREE, 4000);
    List<String> four = new ArrayList<>(THREE);
    four.add("10.0.0.4:50052");
    Map<Long, String> after = owners(four, 4000);
    int moved = 0;
    for (Map.Entry<Long, String> e : before.entrySet()) {
      String now = after.get(e.getKey());
      if (!now.equals(e.getValue())) {
        assertEquals("10.0.0.4:50052", now);
        moved++;
      }
    }
    assertTrue(moved > 850 && moved < 1150, "moved " + moved + " of 4000");
  }

  @Test
  void theRankingStartsWithTheOwnerAndTheOrderDoesNotDependOnTheListOrder() {
    List<Endpoint> eps = new ArrayList<>();
    for (String id : THREE) eps.add(new Endpoint(id, null));
    long key = Rendezvous.hashString("x");
    List<Endpoint> a = Rendezvous.rank(key, eps);
    List<Endpoint> reversed = new ArrayList<>(eps);
    java.util.Collections.reverse(reversed);
    assertEquals(a, Rendezvous.rank(key, reversed));
    assertEquals(Rendezvous.ownerOf(key, THREE), a.get(0).id());
  }
}
