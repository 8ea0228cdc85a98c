package tandem.gateway.http;

import com.google.gson.JsonObject;
import tandem.common.error.Rejection;

/**
 * A refusal as OpenAI's error object and HTTP status: the one place the HTTP front door maps kinds
 * to codes.
 */
final class OpenAiErrors {
  private OpenAiErrors() {}

  static int status(Rejection.Kind k) {
    return switch (k) {
      case INVALID, FAILED_PRECONDITION -> 400;
      case UNAUTHENTICATED -> 401;
      case PERMISSION_DENIED -> 403;
      case NOT_FOUND -> 404;
      case TOO_LARGE -> 413;
      case RATE_LIMITED -> 429;
      case CANCELLED -> 499;
      case INTERNAL -> 500;
      case OVERLOADED, UNAVAILABLE -> 503;
      case DEADLINE -> 504;
    };
  }

  /** OpenAI's {@code error.type}. */
  static String type(Rejection.Kind k) {
    return switch (k) {
      case INVALID, FAILED_PRECONDITION, TOO_LARGE -> "invalid_request_error";
      case UNAUTHENTICATED -> "authentication_error";
      case PERMISSION_DENIED -> "permission_error";
      case NOT_FOUND -> "not_found_error";
      case RATE_LIMITED -> "rate_limit_error";
      case OVERLOADED, UNAVAILABLE -> "service_unavailable_error";
      case DEADLINE -> "timeout_error";
      case CANCELLED, INTERNAL -> "server_error";
    };
  }

  /**
   * {@code {"error": {"message", "type", "param", "code"}}}; {@code code} is the canonical code
   * name.
   */
  static JsonObject body(Rejection r) {
    JsonObject e = new JsonObject();
    e.addProperty("message", r.getMessage());
    e.addProperty("type", type(r.kind()));
    e.add("param", com.google.gson.JsonNull.INSTANCE);
    e.addProperty("code", r.kind().code().toLowerCase(java.util.Locale.ROOT));
    JsonObject o = new JsonObject();
    o.add("error", e);
    return o;
  }
}
