package tandem.common.error;

/**
 * Why a request was refused or failed, in transport-neutral terms: the one error type of every
 * service's domain code. The message says what was wrong and what is allowed (it names the limit or
 * the input) and reaches the client as is. gRPC servers map it to a status in one place ({@code
 * tandem.common.grpc.GrpcRejections}, installed as an interceptor by {@code ServerHost}); the
 * gateway's HTTP front door maps the {@link Kind} to an HTTP code.
 */
public final class Rejection extends RuntimeException {
  /**
   * The kinds a front door tells apart; {@link #code()} is the canonical (transport-neutral) error
   * code name.
   */
  public enum Kind {
    /** The request is malformed or asks for something out of range. */
    INVALID("INVALID_ARGUMENT"),
    /** The request (or one of its images) is larger than a limit allows. */
    TOO_LARGE("RESOURCE_EXHAUSTED"),
    /** The client sent too much, too fast (rate or per-client streams). */
    RATE_LIMITED("RESOURCE_EXHAUSTED"),
    /** The gateway or a backend is at capacity (global stream cap, decoder queue full). */
    OVERLOADED("RESOURCE_EXHAUSTED"),
    /** No or a wrong credential. */
    UNAUTHENTICATED("UNAUTHENTICATED"),
    /** A credential that may not do this. */
    PERMISSION_DENIED("PERMISSION_DENIED"),
    /** A named thing (model, image id) does not exist. */
    NOT_FOUND("NOT_FOUND"),
    /** The request is valid but cannot run in the current state. */
    FAILED_PRECONDITION("FAILED_PRECONDITION"),
    /** A backend cannot be reached, or the gateway is shutting down. */
    UNAVAILABLE("UNAVAILABLE"),
    /** The deadline passed. */
    DEADLINE("DEADLINE_EXCEEDED"),
    /** The client went away. */
    CANCELLED("CANCELLED"),
    /** A bug or a backend broke its contract. */
    INTERNAL("INTERNAL");

    private final String code;

    Kind(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }
  }

  private final Kind kind;

  public Rejection(Kind kind, String message) {
    super(message, null, false, false); // a refusal is an answer, not a bug: no stack trace
    this.kind = kind;
  }

  public Rejection(Kind kind, String message, Throwable cause) {
    super(message, cause, false, false);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }

  public static Rejection invalid(String message) {
    return new Rejection(Kind.INVALID, message);
  }

  public static Rejection tooLarge(String message) {
    return new Rejection(Kind.TOO_LARGE, message);
  }

  public static Rejection overloaded(String message) {
    return new Rejection(Kind.OVERLOADED, message);
  }

  public static Rejection notFound(String message) {
    return new Rejection(Kind.NOT_FOUND, message);
  }

  public static Rejection unavailable(String message) {
    return new Rejection(Kind.UNAVAILABLE, message);
  }

  public static Rejection deadline(String message) {
    return new Rejection(Kind.DEADLINE, message);
  }

  public static Rejection cancelled(String message) {
    return new Rejection(Kind.CANCELLED, message);
  }

  public static Rejection internal(String message, Throwable cause) {
    return new Rejection(Kind.INTERNAL, message, cause);
  }

  @Override
  public String toString() {
    return kind.code() + ": " + getMessage();
  }
}
