package tandem.common.config;

import java.util.Map;

/**
 * The resolved values of a {@link SettingRegistry}: one per setting, null for an unset setting
 * without default.
 */
public final class SettingValues {
  private final Map<Setting<?>, Object> values;

  SettingValues(Map<Setting<?>, Object> values) {
    this.values = values;
  }

  public <T> T get(Setting<T> s) {
    if (!values.containsKey(s))
      throw new IllegalArgumentException("--" + s.flag() + " is not a setting of this registry");
    return s.type().cast(values.get(s));
  }

  /** The value, which must be set: {@code what} explains the setting when it is not. */
  public <T> T require(Setting<T> s) {
    T v = get(s);
    if (v == null)
      throw new IllegalArgumentException(
          "--" + s.flag() + " (or " + s.env() + ") is required: " + s.description());
    return v;
  }
}
