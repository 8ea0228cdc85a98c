package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.common.config.SettingValues;

class SettingOptionsTest {
  static final Setting<Integer> BATCH =
      Setting.integer("max-batch", "T_BATCH", 8, 1, 64, "Rows per step.");
  static final Setting<Boolean> PREFIX =
      Setting.bool("prefix-cache", "T_PREFIX", true, "Reuse prefixes.");
  static final Setting<Integer> CHUNK =
      Setting.integer("prefill-chunk-tokens", "T_CHUNK", 24, 1, 4096, "Rows.")
          .withAliases("prefill-tokens");
  static final SettingRegistry REGISTRY = new SettingRegistry("t", List.of(BATCH, PREFIX, CHUNK));

  private static SettingValues parse(Map<String, String> env, String... args) {
    CommandSpec spec = SettingOptions.addTo(CommandSpec.create(), REGISTRY);
    CommandLine cl = new CommandLine(spec);
    cl.parseArgs(args);
    return SettingOptions.resolve(spec, REGISTRY, env);
  }

  @Test
  void flagsGivenWinOverTheEnvironmentAndTheRestComeFromIt() {
    SettingValues v =
        parse(
            Map.of("T_BATCH", "2", "T_CHUNK", "32"), "--no-prefix-cache", "--prefill-tokens", "48");
    assertEquals(2, v.get(BATCH));
    assertEquals(false, v.get(PREFIX));
    assertEquals(48, v.get(CHUNK));
    v = parse(Map.of("T_PREFIX", "false"), "--prefix-cache", "--max-batch=4");
    assertEquals(true, v.get(PREFIX));
    assertEquals(4, v.get(BATCH));
  }

  @Test
  void aBadFlagIsAUserErrorNamingTheFlagAndTheRange() {
    UserError e = assertThrows(UserError.class, () -> parse(Map.of(), "--max-batch", "100"));
    assertEquals("--max-batch=100: must be from 1 to 64", e.getMessage());
  }

  @Test
  void helpShowsTheVariableAndTheDefault() {
    CommandSpec spec = SettingOptions.addTo(CommandSpec.create(), REGISTRY);
    String usage = new CommandLine(spec).getUsageMessage();
    assertTrue(usage.contains("Rows per step. (default: $T_BATCH or 8)"), usage);
    assertTrue(usage.contains("--[no-]prefix-cache"), usage);
  }
}
