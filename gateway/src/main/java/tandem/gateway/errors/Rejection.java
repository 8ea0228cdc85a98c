package tandem.gateway.errors;

/**
 * Why a chat was refused or failed, in the gateway's own terms; each front door maps the {@link Kind} to its status
 * (gRPC: {@code grpc.ChatGrpcService}; HTTP: {@code http.OpenAiErrors}). The message says what was wrong and what is
 * allowed, and is shown to the client as is.
 */
public final class Rejection extends RuntimeException {
  /** The kinds a front door tells apart; {@link #code()} is the canonical (transport-neutral) error code name. */
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

  @Override
  public String toString() {
    return kind.code() + ": " + getMessage();
  }
}
