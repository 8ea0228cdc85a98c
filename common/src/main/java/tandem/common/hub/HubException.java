package tandem.common.hub;

/**
 * A Hub download failed in a way the user can act on; the message says what happened and what to
 * do. The kind lets callers (and tests) tell the cases apart without parsing text.
 */
public final class HubException extends RuntimeException {
  /** What went wrong. */
  public enum Kind {
    /** 401/403: no token, a rejected token, or a gated/private repo. */
    AUTH,
    /** 404: no such repository, revision or file. */
    NOT_FOUND,
    /** The Hub could not be reached (connection refused, DNS, timeouts) after retries. */
    NETWORK,
    /** The Hub answered something unexpected (5xx, missing headers, bad JSON). */
    PROTOCOL,
    /**
     * The bytes did not match the size or hash the Hub announced, even after fetching them again.
     */
    INTEGRITY,
    /** Offline (HF_HUB_OFFLINE or no network) and the cache does not hold what is needed. */
    NOT_CACHED,
    /** Local disk trouble: cannot create, write or link in the cache. */
    LOCAL_IO
  }

  private final Kind kind;

  public HubException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public HubException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
