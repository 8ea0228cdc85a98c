package tandem.decoder.generate;

/** A request the scheduler refuses up front; the reason tells the RPC layer which status to use. */
public final class RequestRejected extends RuntimeException {
  /** Why. */
  public enum Reason {
    /** The request itself is wrong (bad ids, splice count, longer than the model's context). */
    INVALID,
    /** It is fine but does not fit now or ever on this server (queue full, KV slot too small). */
    EXHAUSTED,
    /** The scheduler is shut down. */
    UNAVAILABLE
  }

  private final Reason reason;

  public RequestRejected(Reason reason, String message) {
    super(message);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
