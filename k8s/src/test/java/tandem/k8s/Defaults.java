package tandem.k8s;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.decoder.DecoderSettings;
import tandem.gateway.config.GatewaySettings;
import tandem.vision.config.VisionSettings;

/**
 * What the services read, from their setting registries, so a setting added to one is seen here
 * without editing the tests; the well-known ports from ServiceDefaults.
 */
final class Defaults {
  private Defaults() {}

  /** Every service's settings and the network and security ones every server shares. */
  static final List<SettingRegistry> REGISTRIES =
      List.of(
          DecoderSettings.REGISTRY,
          VisionSettings.REGISTRY,
          GatewaySettings.REGISTRY,
          CommonSettings.NETWORK,
          CommonSettings.SECURITY);

  /** Variable name -> its setting, for every variable a service reads. */
  static Map<String, Setting<?>> settingsByEnv() {
    Map<String, Setting<?>> out = new TreeMap<>();
    for (SettingRegistry r : REGISTRIES) {
      for (Setting<?> s : r.all()) out.putIfAbsent(s.env(), s);
    }
    return out;
  }

  /** ServiceDefaults' constants (the well-known ports), by name. */
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
