package tandem.common.config;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The settings of one service, in the order its help and docs list them. {@link #resolve} reads
 * them from flags over the environment; {@link #markdownTable} is the docs' configuration table.
 */
public final class SettingRegistry {
  private final String service;
  private final List<Setting<?>> settings;

  public SettingRegistry(String service, List<Setting<?>> settings) {
    this.service = service;
    this.settings = List.copyOf(settings);
    Map<String, String> seen = new HashMap<>();
    for (Setting<?> s : this.settings) {
      List<String> names = new ArrayList<>(s.aliases());
      names.add(s.flag());
      for (String n : names) {
        if (seen.put("--" + n, s.env()) != null)
          throw new IllegalArgumentException(service + ": flag --" + n + " twice");
      }
      if (seen.put(s.env(), s.flag()) != null)
        throw new IllegalArgumentException(service + ": " + s.env() + " twice");
    }
  }

  /** This registry and {@code more}'s settings after it. */
  public SettingRegistry plus(SettingRegistry more) {
    List<Setting<?>> all = new ArrayList<>(settings);
    all.addAll(more.settings);
    return new SettingRegistry(service, all);
  }

  public String service() {
    return service;
  }

  public List<Setting<?>> all() {
    return settings;
  }

  /** The setting whose flag or alias is {@code flag} (without dashes), or null. */
  public Setting<?> byFlag(String flag) {
    for (Setting<?> s : settings) {
      if (s.flag().equals(flag) || s.aliases().contains(flag)) return s;
    }
    return null;
  }

  /**
   * Every setting's value: the flag when given ({@code flags} maps flag names without dashes to
   * text), else the environment variable when set and not blank, else the default. A malformed
   * value fails with a message naming the flag or variable and what is allowed; an unknown flag
   * fails listing the known ones.
   */
  public SettingValues resolve(Map<String, String> flags, Map<String, String> environment) {
    Map<Setting<?>, Object> values = new LinkedHashMap<>();
    for (String f : flags.keySet()) {
      if (byFlag(f) == null) {
        List<String> known = settings.stream().map(s -> "--" + s.flag()).toList();
        throw new IllegalArgumentException(
            "unknown flag --" + f + " (allowed: " + String.join(", ", known) + ")");
      }
    }
    for (Setting<?> s : settings) {
      String raw = null;
      String source = null;
      for (String n : names(s)) {
        if (flags.containsKey(n)) {
          raw = flags.get(n);
          source = "--" + n;
        }
      }
      if (raw == null) {
        String e = environment.get(s.env());
        if (e != null && !e.isBlank()) {
          raw = e;
          source = s.env();
        }
      }
      values.put(s, raw == null ? s.defaultValue() : s.parse(source, raw));
    }
    return new SettingValues(values);
  }

  /** Only the environment. */
  public SettingValues resolve(Map<String, String> environment) {
    return resolve(Map.of(), environment);
  }

  /** A Markdown table of the settings: flag, variable, default, meaning. */
  public String markdownTable() {
    StringBuilder b =
        new StringBuilder(
            "| Flag | Environment variable | Default | Meaning |\n|---|---|---|---|\n");
    for (Setting<?> s : settings) {
      b.append("| `--")
          .append(s.flag())
          .append("` | `")
          .append(s.env())
          .append("` | ")
          .append(s.defaultText().isEmpty() ? "" : "`" + s.defaultText() + "`")
          .append(" | ")
          .append(s.description().replace("|", "\\|"))
          .append(" |\n");
    }
    return b.toString();
  }

  private static List<String> names(Setting<?> s) {
    List<String> n = new ArrayList<>(s.aliases());
    n.add(s.flag()); // the flag itself wins over an alias given too
    return n;
  }
}
