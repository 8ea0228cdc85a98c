package tandem.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.common.config.SettingValues;

/**
 * A service's settings as picocli options: one option per {@link Setting} (its flag and aliases,
 * its description, its variable and default in the help), added by a command's {@code
 * modelTransformer}, and read back as the flags given, over the environment, by {@link #resolve}.
 */
public final class SettingOptions {
  private SettingOptions() {}

  /** Adds an option per setting of {@code registry} to {@code spec}; returns {@code spec}. */
  public static CommandSpec addTo(CommandSpec spec, SettingRegistry registry) {
    for (Setting<?> s : registry.all()) {
      List<String> names = new ArrayList<>();
      names.add("--" + s.flag());
      for (String a : s.aliases()) names.add("--" + a);
      String shown = s.defaultText().isEmpty() ? "" : " or " + s.defaultText();
      OptionSpec.Builder b =
          OptionSpec.builder(names.toArray(String[]::new))
              .description(s.description() + " (default: $" + s.env() + shown + ")");
      if (s.type() == Boolean.class) {
        b.type(Boolean.class).negatable(true).arity("0");
      } else {
        b.type(String.class).arity("1").paramLabel("<" + s.flag() + ">");
      }
      spec.addOption(b.build());
    }
    return spec;
  }

  /** The flags given on {@code parsed}'s command line, by flag name without dashes, as text. */
  public static Map<String, String> given(ParseResult parsed, SettingRegistry registry) {
    Map<String, String> flags = new LinkedHashMap<>();
    for (Setting<?> s : registry.all()) {
      OptionSpec o = parsed.matchedOption("--" + s.flag());
      if (o != null) flags.put(s.flag(), String.valueOf((Object) o.getValue()));
    }
    return flags;
  }

  /**
   * The settings from the flags given over {@code environment}; a bad value is a {@link UserError}
   * naming it.
   */
  public static SettingValues resolve(
      CommandSpec spec, SettingRegistry registry, Map<String, String> environment) {
    return resolve(given(spec.commandLine().getParseResult(), registry), registry, environment);
  }

  /** As above, from flags already collected by {@link #given}. */
  static SettingValues resolve(
      Map<String, String> flags, SettingRegistry registry, Map<String, String> environment) {
    try {
      return registry.resolve(flags, environment);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }
}
