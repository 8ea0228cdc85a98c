package tandem.gateway.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What a front door knows about the call a chat serves: the client's deadline (if it set one), the
 * scope of its image ids, and cancellation. {@link #cancel} runs the registered actions once (stop
 * the backend calls, free the decoder sequence); an action registered after the cancel runs at
 * once. Thread-safe.
 */
public final class CallScope {
  private final long deadlineNanoTime;
  private final boolean hasDeadline;
  private final String imageScope;
  private final List<Runnable> onCancel = new ArrayList<>();
  private boolean cancelled;

  private CallScope(boolean hasDeadline, long deadlineNanoTime, String imageScope) {
    this.hasDeadline = hasDeadline;
    this.deadlineNanoTime = deadlineNanoTime;
    this.imageScope = imageScope == null ? "" : imageScope;
  }

  /** No client deadline (the gateway's backend deadline applies). */
  public static CallScope of(String imageScope) {
    return new CallScope(false, 0, imageScope);
  }

  /** The client's deadline, {@code remainingNanos} from now. */
  public static CallScope withDeadline(String imageScope, long remainingNanos) {
    return new CallScope(true, System.nanoTime() + remainingNanos, imageScope);
  }

  public boolean hasDeadline() {
    return hasDeadline;
  }

  /**
   * Nanoseconds left until the client's deadline (may be negative); only when {@link #hasDeadline}.
   */
  public long remainingNanos() {
    return deadlineNanoTime - System.nanoTime();
  }

  /** Milliseconds left, or {@code fallbackSeconds} when the client set no deadline. */
  public long remainingNanosOr(long fallbackSeconds) {
    return hasDeadline ? remainingNanos() : TimeUnit.SECONDS.toNanos(fallbackSeconds);
  }

  public String imageScope() {
    return imageScope;
  }

  public void onCancel(Runnable r) {
    synchronized (this) {
      if (!cancelled) {
        onCancel.add(r);
        return;
      }
    }
    r.run();
  }

  public void cancel() {
    List<Runnable> run;
    synchronized (this) {
      if (cancelled) return;
      cancelled = true;
      run = List.copyOf(onCancel);
      onCancel.clear();
    }
    for (Runnable r : run) r.run();
  }

  public synchronized boolean isCancelled() {
    return cancelled;
  }
}
