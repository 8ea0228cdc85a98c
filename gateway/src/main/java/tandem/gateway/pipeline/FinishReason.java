package tandem.gateway.pipeline;

import java.util.Locale;

/** Why an answer ended. */
public enum FinishReason {
  /** A stop token or a stop string. */
  STOP,
  /** The max-new-tokens budget or the context ran out. */
  LENGTH,
  /** The client went away. */
  CANCELLED,
  /** A backend failed after text was sent. */
  ERROR;

  /**
   * "stop", "length", … (OpenTelemetry's gen_ai.response.finish_reasons and OpenAI's
   * finish_reason).
   */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
