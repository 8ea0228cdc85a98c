package tandem.gateway.routing;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Rendezvous (highest random weight) hashing: every endpoint scores each key, and the key's owner
 * is the endpoint with the highest score. When an endpoint leaves, only its keys move (each to its
 * own runner-up); when one joins, it takes about 1/n of the keys from the others and nothing else
 * moves. The full ranking is the fallback order.
 */
public final class Rendezvous {
  private Rendezvous() {}

  /**
   * The endpoints ordered by score for {@code key}, best first; ties (never seen in practice) by
   * id.
   */
  public static List<Endpoint> rank(long key, List<Endpoint> endpoints) {
    List<Endpoint> out = new ArrayList<>(endpoints);
    out.sort(
        (a, b) -> {
          int c = Long.compareUnsigned(score(key, b.idHash()), score(key, a.idHash()));
          return c != 0 ? c : a.id().compareTo(b.id());
        });
    return out;
  }

  /**
   * The best-ranked endpoint that is neither down nor in {@code exclude}; null when there is none.
   */
  public static Endpoint owner(long key, List<Endpoint> endpoints, Set<Endpoint> exclude) {
    Endpoint best = null;
    long bestScore = 0;
    for (Endpoint e : endpoints) {
      if (exclude.contains(e) || e.down()) continue;
      long s = score(key, e.idHash());
      if (best == null
          || Long.compareUnsigned(s, bestScore) > 0
          || (s == bestScore && e.id().compareTo(best.id()) < 0)) {
        best = e;
        bestScore = s;
      }
    }
    return best;
  }

  /** The score of an endpoint (by its id's hash) for a key; compared unsigned. */
  static long score(long key, long endpointHash) {
    return mix(key ^ mix(endpointHash + 0x9E3779B97F4A7C15L));
  }

  /** {@link #score} over endpoint ids, for tests and tools that predict where a key goes. */
  public static String ownerOf(long key, List<String> endpointIds) {
    String best = null;
    long bestScore = 0;
    for (String id : endpointIds) {
      long s = score(key, hashString(id));
      if (best == null
          || Long.compareUnsigned(s, bestScore) > 0
          || (s == bestScore && id.compareTo(best) < 0)) {
        best = id;
        bestScore = s;
      }
    }
    return best;
  }

  /**
   * SplitMix64's finalizer: a bijection on 64 bits whose output bits each depend on every input
   * bit.
   */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A stable 64-bit hash of a string (FNV-1a over UTF-8, then mixed). */
  public static long hashString(String s) {
    return new Hash64().bytes(s.getBytes(StandardCharsets.UTF_8)).value();
  }

  /**
   * A small streaming 64-bit hash (FNV-1a per byte, mixed at the end): not cryptographic, only for
   * placement.
   */
  public static final class Hash64 {
    private long h = 0xcbf29ce484222325L;

    public Hash64 bytes(byte[] b) {
      return bytes(b, 0, b.length);
    }

    public Hash64 bytes(byte[] b, int off, int len) {
      for (int i = off; i < off + len; i++) {
        h ^= b[i] & 0xff;
        h *= 0x100000001b3L;
      }
      return this;
    }

    public Hash64 intValue(int v) {
      for (int k = 0; k < 4; k++) {
        h ^= (v >>> (8 * k)) & 0xff;
        h *= 0x100000001b3L;
      }
      return this;
    }

    public Hash64 longValue(long v) {
      intValue((int) v);
      return intValue((int) (v >>> 32));
    }

    public long value() {
      return mix(h);
    }
  }
}
