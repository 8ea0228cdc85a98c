package tandem.gateway.routing;

import java.util.List;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * Consistent hashing with bounded loads over a rendezvous ranking: a key goes to its highest-ranked
 * replica unless that one already carries more than {@code factor} times the average load (counting
 * the new call), in which case it goes to the next in its ranking that does not. With factor 1.25
 * no replica carries more than 25 % over the mean, so one hot conversation cannot pin a replica,
 * while a conversation stays on its replica as long as that is not overloaded.
 */
public final class BoundedLoad {
  private BoundedLoad() {}

  /**
   * The replica for {@code key}, skipping down ones and {@code exclude}; null when none is left.
   * Falls back to the least-loaded candidate should no replica be under the bound (loads that are
   * not whole numbers can do that).
   */
  public static Endpoint pick(
      long key,
      List<Endpoint> endpoints,
      Set<Endpoint> exclude,
      ToDoubleFunction<Endpoint> load,
      double factor) {
    List<Endpoint> candidates =
        endpoints.stream().filter(e -> !exclude.contains(e) && !e.down()).toList();
    if (candidates.isEmpty()) {
      // all down: try them anyway, in key order (one may be back), rather than fail without a try
      candidates = endpoints.stream().filter(e -> !exclude.contains(e)).toList();
      if (candidates.isEmpty()) return null;
    }
    double total = 1; // the call being placed
    double[] loads = new double[candidates.size()];
    List<Endpoint> ranked = Rendezvous.rank(key, candidates);
    for (int i = 0; i < ranked.size(); i++) {
      loads[i] = Math.max(0, load.applyAsDouble(ranked.get(i)));
      total += loads[i];
    }
    double bound = Math.ceil(factor * total / ranked.size());
    int least = 0;
    for (int i = 0; i < ranked.size(); i++) {
      if (loads[i] + 1 <= bound) return ranked.get(i);
      if (loads[i] < loads[least]) least = i;
    }
    return ranked.get(least);
  }
}
