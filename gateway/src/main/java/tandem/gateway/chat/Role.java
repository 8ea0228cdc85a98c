package tandem.gateway.chat;

import java.util.Locale;

/**
 * The chat roles the Qwen3-SmVL template renders for a client (tool turns are not supported by the
 * gateway).
 */
public enum Role {
  SYSTEM,
  USER,
  ASSISTANT;

  /** The role as the template writes it after {@code <|im_start|>}. */
  public String wire() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses {@code system}, {@code user} or {@code assistant}; anything else is a clear error. */
  public static Role parse(String s) {
    if (s != null) {
      for (Role r : values()) if (r.wire().equals(s)) return r;
    }
    throw new IllegalArgumentException(
        "unknown role '" + s + "'; allowed roles are system, user and assistant");
  }
}
