package tandem.cli;

import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;

/**
 * The network flags every {@code vlm serve} command takes: connections, draining, the health-only
 * port, TLS and bearer tokens ({@link #REGISTRY}: {@code CommonSettings.NETWORK} and {@code
 * SECURITY}). The command's model transformer adds them with its own ({@link #serveOptions});
 * {@link #env()} is the process environment with the flags given laid over it, the one place the
 * servers read these settings from.
 */
@picocli.CommandLine.Command // a mixin: its options come from the command's transformer
public final class ConnectionOptions {
  /** Every network and security setting, as flags of each serve command. */
  public static final SettingRegistry REGISTRY =
      CommonSettings.NETWORK.plus(CommonSettings.SECURITY);

  /** A serve command's options: its service's settings, then these. */
  static CommandSpec serveOptions(CommandSpec spec, SettingRegistry service) {
    return SettingOptions.addTo(SettingOptions.addTo(spec, service), REGISTRY);
  }

  @Spec(Spec.Target.MIXEE)
  CommandSpec command;

  /** The environment with the given flags over it. */
  public Env env() {
    return new Env(overlay(System.getenv()));
  }

  /**
   * {@code base} with the flags given laid over it, by variable name. A malformed flag is a {@link
   * UserError} naming it and what is allowed.
   */
  Map<String, String> overlay(Map<String, String> base) {
    Map<String, String> m = new HashMap<>(base);
    if (command == null
        || command.commandLine() == null
        || command.commandLine().getParseResult() == null) return m;
    Map<String, String> given =
        SettingOptions.given(command.commandLine().getParseResult(), REGISTRY);
    SettingOptions.resolve(given, REGISTRY, base); // checks every value now, naming the flag
    for (Map.Entry<String, String> e : given.entrySet()) {
      Setting<?> s = REGISTRY.byFlag(e.getKey());
      m.put(s.env(), e.getValue());
    }
    return m;
  }
}
