package tandem.gateway.backend;

import io.grpc.Status;
import tandem.common.error.Rejection;
import tandem.common.grpc.GrpcRejections;
import tandem.gateway.config.GatewaySettings;

/**
 * A backend call's failure as a {@link Rejection} that names the backend; one mapping for both
 * clients.
 */
final class BackendErrors {
  private BackendErrors() {}

  /**
   * @param exhausted the kind of RESOURCE_EXHAUSTED from this backend (an image too large, a queue
   *     full) when its trailers do not say (a refusal from Tandem's own services does:
   *     decoder-svc's prompt larger than its whole KV budget is TOO_LARGE, its full queue
   *     OVERLOADED)
   */
  static Rejection of(
      String backend,
      Throwable t,
      boolean clientDeadline,
      int defaultDeadlineSeconds,
      Rejection.Kind exhausted) {
    Status s = Status.fromThrowable(t);
    String what = s.getDescription() == null ? s.getCode().toString() : s.getDescription();
    return switch (s.getCode()) {
      case UNAVAILABLE ->
          new Rejection(Rejection.Kind.UNAVAILABLE, backend + " is unavailable: " + what);
      case DEADLINE_EXCEEDED ->
          new Rejection(
              Rejection.Kind.DEADLINE,
              "deadline exceeded waiting for "
                  + backend
                  + (clientDeadline
                      ? ""
                      : " (the gateway's default deadline, "
                          + GatewaySettings.BACKEND_DEADLINE_SECONDS.env()
                          + "="
                          + defaultDeadlineSeconds
                          + ")"));
      case CANCELLED ->
          new Rejection(Rejection.Kind.CANCELLED, "cancelled while waiting for " + backend);
      case RESOURCE_EXHAUSTED -> new Rejection(exhaustedKind(t, exhausted), backend + ": " + what);
      default -> new Rejection(kind(s.getCode()), backend + ": " + what);
    };
  }

  private static Rejection.Kind exhaustedKind(Throwable t, Rejection.Kind otherwise) {
    Rejection.Kind k = GrpcRejections.kind(t);
    return k != null && k.code().equals("RESOURCE_EXHAUSTED") ? k : otherwise;
  }

  /** The kind of a backend status other than the three above. */
  static Rejection.Kind kind(Status.Code c) {
    return switch (c) {
      case INVALID_ARGUMENT, OUT_OF_RANGE -> Rejection.Kind.INVALID;
      // vision-svc's per-image limits and decoder-svc's full queue: the request is too big, or the
      // backend is busy
      case RESOURCE_EXHAUSTED -> Rejection.Kind.OVERLOADED;
      case UNAUTHENTICATED -> Rejection.Kind.UNAUTHENTICATED;
      case PERMISSION_DENIED -> Rejection.Kind.PERMISSION_DENIED;
      case NOT_FOUND -> Rejection.Kind.NOT_FOUND;
      case FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED -> Rejection.Kind.FAILED_PRECONDITION;
      case UNAVAILABLE -> Rejection.Kind.UNAVAILABLE;
      case DEADLINE_EXCEEDED -> Rejection.Kind.DEADLINE;
      case CANCELLED -> Rejection.Kind.CANCELLED;
      default -> Rejection.Kind.INTERNAL;
    };
  }
}
