package tandem.common.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingRegistryTest {
  static final Setting<Integer> BATCH =
      Setting.integer("max-batch", "T_MAX_BATCH", 8, 1, Integer.MAX_VALUE, "Rows per step.");
  static final Setting<Long> BUDGET =
      Setting.bytes("kv-cache-bytes", "T_KV", 512L << 20, 0, "KV budget.");
  static final Setting<String> DTYPE =
      Setting.choice("kv-cache-dtype", "T_DTYPE", "bf16", "KV dtype.", "bf16", "f32");
  static final Setting<Boolean> PREFIX =
      Setting.bool("prefix-cache", "T_PREFIX", true, "Reuse | prefixes.");
  static final Setting<java.nio.file.Path> MODEL =
      Setting.path("model", "T_MODEL", "Checkpoint folder.");
  static final Setting<Integer> CHUNK =
      Setting.integer("prefill-chunk-tokens", "T_CHUNK", 24, 1, 4096, "Rows.")
          .withAliases("prefill-tokens");
  static final SettingRegistry REGISTRY =
      new SettingRegistry("test", List.of(BATCH, BUDGET, DTYPE, PREFIX, MODEL, CHUNK));

  @Test
  void defaultsApplyWhenNeitherFlagNorVariableIsGiven() {
    SettingValues v = REGISTRY.resolve(Map.of(), Map.of("T_KV", "  "));
    assertEquals(8, v.get(BATCH));
    assertEquals(512L << 20, v.get(BUDGET));
    assertEquals("bf16", v.get(DTYPE));
    assertEquals(true, v.get(PREFIX));
    assertNull(v.get(MODEL));
  }

  @Test
  void aFlagWinsOverItsVariableAndAnAliasCounts() {
    SettingValues v =
        REGISTRY.resolve(
            Map.of("max-batch", "4", "prefill-tokens", "48"),
            Map.of("T_MAX_BATCH", "2", "T_KV", "2g", "T_DTYPE", "F32", "T_PREFIX", "off"));
    assertEquals(4, v.get(BATCH));
    assertEquals(2L << 30, v.get(BUDGET));
    assertEquals("f32", v.get(DTYPE));
    assertEquals(false, v.get(PREFIX));
    assertEquals(48, v.get(CHUNK));
  }

  @Test
  void aBadValueNamesItsSourceAndWhatIsAllowed() {
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> REGISTRY.resolve(Map.of(), Map.of("T_MAX_BATCH", "0")));
    assertEquals("T_MAX_BATCH=0: must be >= 1", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> REGISTRY.resolve(Map.of("kv-cache-dtype", "f16"), Map.of()));
    assertEquals(
        "--kv-cache-dtype=f16: kv-cache-dtype f16 is not allowed (allowed: bf16, f32)",
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> REGISTRY.resolve(Map.of("prefill-chunk-tokens", "5000"), Map.of()));
    assertEquals("--prefill-chunk-tokens=5000: must be from 1 to 4096", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> REGISTRY.resolve(Map.of(), Map.of("T_KV", "lots")));
    assertTrue(e.getMessage().startsWith("T_KV=lots: must be a byte count"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> REGISTRY.resolve(Map.of("max-bach", "1"), Map.of()));
    assertTrue(
        e.getMessage()
            .startsWith("unknown flag --max-bach (allowed: --max-batch, --kv-cache-bytes"),
        e.getMessage());
  }

  @Test
  void requireExplainsAMissingSetting() {
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> REGISTRY.resolve(Map.of()).require(MODEL));
    assertEquals("--model (or T_MODEL) is required: Checkpoint folder.", e.getMessage());
  }

  @Test
  void aFlagOrVariableDeclaredTwiceIsRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new SettingRegistry(
                "x", List.of(BATCH, Setting.integer("max-batch", "OTHER", 1, 1, 2, "again"))));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new SettingRegistry(
                "x", List.of(BATCH, Setting.integer("other", "T_MAX_BATCH", 1, 1, 2, "again"))));
  }

  @Test
  void theDocsTableListsEverySettingWithItsDefault() {
    String t = REGISTRY.markdownTable();
    assertTrue(t.contains("| `--kv-cache-bytes` | `T_KV` | `512m` | KV budget. |"), t);
    assertTrue(t.contains("| `--model` | `T_MODEL` |  | Checkpoint folder. |"), t);
    assertTrue(t.contains("Reuse \\| prefixes."), t);
    assertEquals(2 + REGISTRY.all().size(), t.split("\n").length);
  }

  @Test
  void byteCountsReadAndPrintTheirSuffixes() {
    assertEquals(65536L, Setting.parseBytes("65536"));
    assertEquals(3L << 10, Setting.parseBytes("3K"));
    assertEquals("20m", Setting.bytesText(20L << 20));
    assertEquals("1000", Setting.bytesText(1000));
    assertThrows(IllegalArgumentException.class, () -> Setting.parseBytes("-1"));
    assertThrows(IllegalArgumentException.class, () -> Setting.parseBytes("99999999999g"));
  }
}
