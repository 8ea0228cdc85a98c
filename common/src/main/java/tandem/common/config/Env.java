package tandem.common.config;

import java.util.Map;

/** Reads settings from environment variables with defaults; a malformed value is a startup error naming it. */
public final class Env {
  private final Map<String, String> env;

  public Env(Map<String, String> env) {
    this.env = env;
  }

  public static Env system() {
    return new Env(System.getenv());
  }

  /**
   * {@code setting}'s value from its variable (blank = unset), else its default; a malformed value fails naming the
   * variable and what is allowed.
   */
  public <T> T get(Setting<T> setting) {
    String v = env.get(setting.env());
    return v == null || v.isBlank() ? setting.defaultValue() : setting.parse(setting.env(), v);
  }

  /** Every setting of {@code registry} from the environment. */
  public SettingValues read(SettingRegistry registry) {
    return registry.resolve(env);
  }

  public String string(String name, String def) {
    String v = env.get(name);
    return v == null || v.isBlank() ? def : v.trim();
  }

  public int integer(String name, int def) {
    String v = env.get(name);
    if (v == null || v.isBlank()) return def;
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + "=" + v + " is not an integer");
    }
  }

  public long longValue(String name, long def) {
    String v = env.get(name);
    if (v == null || v.isBlank()) return def;
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + "=" + v + " is not an integer");
    }
  }

  /** true/1/yes/on or false/0/no/off, any case. */
  public boolean bool(String name, boolean def) {
    String v = env.get(name);
    if (v == null || v.isBlank()) return def;
    return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true", "1", "yes", "on" -> true;
      case "false", "0", "no", "off" -> false;
      default -> throw new IllegalArgumentException(name + " must be true or false, got '" + v + "'");
    };
  }
}
