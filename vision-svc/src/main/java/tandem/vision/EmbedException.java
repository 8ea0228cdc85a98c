package tandem.vision;

/**
 * A refused or failed embed call. {@link Kind} names the gRPC status the thin RPC layer maps it to; domain code
 * stays free of io.grpc.
 */
public final class EmbedException extends Exception {
  /** Mirrors the gRPC codes this service uses. */
  public enum Kind { INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, CANCELLED }

  private final Kind kind;

  public EmbedException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public EmbedException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
