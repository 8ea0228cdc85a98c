package tandem.common.config;

import java.util.Map;

/**
 * The environment a server reads its settings from ({@link #get} one, {@link #read} a registry):
 * the process's, or a map (tests, flags laid over it). A malformed value is a startup error naming
 * the variable and what is allowed.
 */
public final class Env {
  private final Map<String, String> env;

  public Env(Map<String, String> env) {
    this.env = env;
  }

  public static Env system() {
    return new Env(System.getenv());
  }

  /**
   * {@code setting}'s value from its variable (blank = unset), else its default; a malformed value
   * fails naming the variable and what is allowed.
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
}
