package tandem.gateway.routing;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The replicas behind one backend address, each with its own channel. Every refresh period it looks
 * the target's names up again (a pod added to a headless Service appears, a removed one goes: its
 * channel is shut down gracefully, so calls on it finish) and nudges the channels that are not
 * connected: an idle one connects, a failed one retries now instead of after its backoff, so a
 * replica that comes back (or a listed one that starts late) gets calls within one period.
 */
public final class EndpointPool implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EndpointPool.class);

  /**
   * Builds the channel of one replica: {@code address} to dial, {@code authority} for TLS and
   * :authority.
   */
  public interface ChannelFactory {
    ManagedChannel create(InetSocketAddress address, String authority);
  }

  /** Name lookup; the JDK's by default, a table in tests. */
  public interface Resolver {
    InetAddress[] resolve(String host) throws UnknownHostException;
  }

  private final String name;
  private final BackendTarget target;
  private final ChannelFactory factory;
  private final Resolver resolver;
  private final ScheduledExecutorService timer;
  private final Duration period;
  private volatile List<Endpoint> endpoints = List.of();
  private volatile String lastProblem = "";
  private boolean closed;

  /**
   * Resolves once now (a name that does not resolve is logged and retried every period; calls
   * meanwhile fail UNAVAILABLE naming the target) and then every {@code period}.
   */
  public EndpointPool(
      String name,
      BackendTarget target,
      ChannelFactory factory,
      Resolver resolver,
      Duration period) {
    if (period.isZero() || period.isNegative()) {
      throw new IllegalArgumentException("the refresh period must be > 0, got " + period);
    }
    this.name = name;
    this.target = target;
    this.factory = factory;
    this.resolver = resolver;
    this.period = period;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "resolve-" + name);
              t.setDaemon(true);
              return t;
            });
    refresh();
    long ms = period.toMillis();
    timer.scheduleWithFixedDelay(this::refreshQuietly, ms, ms, TimeUnit.MILLISECONDS);
  }

  public static Resolver jdkResolver() {
    return InetAddress::getAllByName;
  }

  /** The replicas now, in a stable order; may be empty while nothing resolves. */
  public List<Endpoint> endpoints() {
    return endpoints;
  }

  public BackendTarget target() {
    return target;
  }

  public Duration period() {
    return period;
  }

  /** Why there are no endpoints, for the UNAVAILABLE a call gets then; empty when none was seen. */
  public String lastProblem() {
    return lastProblem;
  }

  private void refreshQuietly() {
    try {
      refresh();
    } catch (RuntimeException e) {
      LOG.warn("{}: refreshing {} failed", name, target, e);
    }
  }

  // each name's last answer (endpoint id -> address), kept for when a later lookup of it fails
  private final Map<BackendTarget.HostPort, Map<String, InetSocketAddress>> lastAnswer =
      new java.util.HashMap<>();

  /** Looks the names up again and reconciles the channels; safe to call at any time. */
  public synchronized void refresh() {
    if (closed) return;
    Map<String, InetSocketAddress> want = new LinkedHashMap<>();
    Map<String, String> authority = new LinkedHashMap<>();
    List<String> problems = new ArrayList<>();
    for (BackendTarget.HostPort hp : target.entries()) {
      InetAddress[] addrs;
      try {
        addrs = resolver.resolve(hp.host());
      } catch (UnknownHostException e) {
        problems.add(hp.host() + " does not resolve (" + e.getMessage() + ")");
        // a failed lookup is not an empty Service: this name keeps the replicas it last had,
        // also when other names of the list answered
        Map<String, InetSocketAddress> known = lastAnswer.get(hp);
        if (known != null) {
          for (Map.Entry<String, InetSocketAddress> k : known.entrySet()) {
            want.putIfAbsent(k.getKey(), k.getValue());
            authority.putIfAbsent(k.getKey(), hp.authority());
          }
        }
        continue;
      }
      List<InetAddress> list = new ArrayList<>(List.of(addrs));
      // "localhost" resolves to 127.0.0.1 and ::1: one server, not two replicas
      if (!list.isEmpty() && list.stream().allMatch(InetAddress::isLoopbackAddress))
        list = List.of(list.get(0));
      Map<String, InetSocketAddress> answer = new LinkedHashMap<>();
      for (InetAddress a : list) {
        InetSocketAddress sa = new InetSocketAddress(a, hp.port());
        String id = new BackendTarget.HostPort(a.getHostAddress(), hp.port()).authority();
        answer.put(id, sa);
        want.putIfAbsent(id, sa);
        authority.putIfAbsent(id, hp.authority());
      }
      lastAnswer.put(hp, answer);
    }
    lastProblem = problems.isEmpty() ? "" : String.join("; ", problems);
    if (!problems.isEmpty() && !want.isEmpty()) {
      LOG.warn("{}: {}; a name that did not resolve keeps its last answer", name, lastProblem);
    }
    Map<String, Endpoint> old = new LinkedHashMap<>();
    for (Endpoint e : endpoints) old.put(e.id(), e);
    List<Endpoint> next = new ArrayList<>();
    for (Map.Entry<String, InetSocketAddress> w : want.entrySet()) {
      Endpoint e = old.remove(w.getKey());
      if (e == null || e.channel().isShutdown()) {
        e = new Endpoint(w.getKey(), factory.create(w.getValue(), authority.get(w.getKey())));
        LOG.info("{}: endpoint {} added", name, e.id());
      }
      next.add(e);
    }
    next.sort((a, b) -> a.id().compareTo(b.id()));
    endpoints = List.copyOf(next);
    for (Endpoint gone : old.values()) {
      LOG.info("{}: endpoint {} removed; its calls in flight finish", name, gone.id());
      gone.channel().shutdown();
    }
    nudge(endpoints);
  }

  private static void nudge(List<Endpoint> list) {
    for (Endpoint e : list) {
      ConnectivityState s = e.channel().getState(false);
      if (s == ConnectivityState.TRANSIENT_FAILURE) e.channel().resetConnectBackoff();
      else if (s == ConnectivityState.IDLE) e.channel().getState(true);
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    timer.shutdownNow();
    for (Endpoint e : endpoints) e.channel().shutdownNow();
  }
}
