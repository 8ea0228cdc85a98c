package tandem.gateway.routing;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One backend replica as the gateway sees it: an address, its own channel (one connection), the
 * calls this gateway has open on it, and the last load report it sent (decoder-svc's final
 * message). The id is what rendezvous hashing hashes, so it must name the replica, not the route to
 * it: {@code ip:port}.
 */
public final class Endpoint {
  /** The load a decoder reported in its last final message, with when it arrived. */
  public record LoadReport(
      int runningSequences, int queuedRequests, double kvCacheUsage, long receivedNanos) {}

  private final String id;
  private final long idHash;
  private final ManagedChannel channel;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicLong calls = new AtomicLong();
  private volatile LoadReport report;

  Endpoint(String id, ManagedChannel channel) {
    this.id = id;
    this.idHash = Rendezvous.hashString(id);
    this.channel = channel;
  }

  public String id() {
    return id;
  }

  long idHash() {
    return idHash;
  }

  public ManagedChannel channel() {
    return channel;
  }

  /** Calls this gateway has open on the replica now. */
  public int inFlight() {
    return inFlight.get();
  }

  /** Calls this gateway has started on the replica since it was discovered. */
  public long calls() {
    return calls.get();
  }

  void started() {
    inFlight.incrementAndGet();
    calls.incrementAndGet();
  }

  void finished() {
    inFlight.decrementAndGet();
  }

  public LoadReport report() {
    return report;
  }

  void report(LoadReport r) {
    report = r;
  }

  /**
   * Down means the channel failed to connect (TRANSIENT_FAILURE) or was shut down. IDLE and
   * CONNECTING count as up: a connection recycled by maxConnectionAge passes through both, and
   * routing an image away from its owner for that moment would cost a cache miss; a call on a
   * replica that really is gone fails fast and is retried.
   */
  public boolean down() {
    ConnectivityState s = channel.getState(false);
    return s == ConnectivityState.TRANSIENT_FAILURE || s == ConnectivityState.SHUTDOWN;
  }

  @Override
  public String toString() {
    return id;
  }
}
