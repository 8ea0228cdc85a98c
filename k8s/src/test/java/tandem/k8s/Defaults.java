package tandem.k8s;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Map;
import java.util.TreeMap;
import tandem.common.config.ServiceDefaults;

/**
 * ServiceDefaults read by reflection, so a constant added there is seen here without editing the tests: every
 * {@code ENV_X} names a variable the services read, and {@code DEFAULT_X} (when present) is its default.
 */
final class Defaults {
  private Defaults() {}

  /** ENV_X constant name without the prefix (X) -> variable name. */
  static Map<String, String> envNames() {
    Map<String, String> out = new TreeMap<>();
    constants().forEach((name, value) -> {
      if (name.startsWith("ENV_")) out.put(name.substring(4), (String) value);
    });
    return out;
  }

  /** Variable name -> its default from DEFAULT_X, for the variables that have one. */
  static Map<String, String> defaultsByEnv() {
    Map<String, Object> c = constants();
    Map<String, String> out = new TreeMap<>();
    envNames().forEach((key, env) -> {
      Object d = c.get("DEFAULT_" + key);
      if (d != null) out.put(env, d.toString());
    });
    return out;
  }

  static Map<String, Object> constants() {
    Map<String, Object> out = new TreeMap<>();
    for (Field f : ServiceDefaults.class.getDeclaredFields()) {
      int m = f.getModifiers();
      if (Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m)) {
        try {
          out.put(f.getName(), f.get(null));
        } catch (IllegalAccessException e) {
          throw new IllegalStateException(e);
        }
      }
    }
    return out;
  }

  static int port(String component) {
    return switch (component) {
      case "gateway" -> ServiceDefaults.GATEWAY_PORT;
      case "vision" -> ServiceDefaults.VISION_PORT;
      case "decoder" -> ServiceDefaults.DECODER_PORT;
      default -> throw new IllegalArgumentException(component);
    };
  }
}
