package tandem.vision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.config.Setting;
import tandem.common.config.SettingValues;
import tandem.common.testing.SettingsDocs;
import tandem.vision.config.VisionSettings;
import tandem.vision.embed.EmbedLimits;
import tandem.vision.preprocess.ImageDecoder;

/**
 * vision-svc's settings: flags over variables over defaults, each checked once, and the docs table
 * is theirs.
 */
class VisionSettingsTest {
  @Test
  void theDefaultsAreTheServicesDocumentedOnes() {
    VisionServerConfig s = VisionServerConfig.fromEnvironment(Map.of("TANDEM_MODEL", "/m"));
    assertEquals(
        new VisionServerConfig(
            Path.of("/m"),
            "cpu",
            50052,
            8,
            2,
            512L << 20,
            new EmbedLimits(20 << 20, 50_000_000L, 16, 900),
            128 << 20),
        s);
    assertEquals(s.limits(), EmbedLimits.defaults());
    ImageDecoder d = ImageDecoder.withDefaults();
    assertEquals(List.of(20L << 20, 50_000_000L), List.of(d.maxBytes(), d.maxPixels()));
    assertEquals(0, VisionSettings.REGISTRY.resolve(Map.of()).get(VisionSettings.METRICS_PORT));
  }

  @Test
  void everySettingHasItsVariableAndAFlagWinsOverIt() {
    Map<String, String> env =
        Map.ofEntries(
            Map.entry("TANDEM_MODEL", "/env"),
            Map.entry("TANDEM_DEVICE", "cuda"),
            Map.entry("TANDEM_PORT", "7000"),
            Map.entry("TANDEM_VISION_MAX_BATCH_TILES", "4"),
            Map.entry("TANDEM_VISION_BATCH_WAIT_MS", "0"),
            Map.entry("TANDEM_VISION_CACHE_BYTES", "1g"),
            Map.entry("TANDEM_VISION_MAX_IMAGE_BYTES", "1m"),
            Map.entry("TANDEM_VISION_MAX_IMAGE_PIXELS", "1000"),
            Map.entry("TANDEM_VISION_MAX_IMAGES", "3"),
            Map.entry("TANDEM_VISION_MAX_WAIT_SECONDS", "5"),
            Map.entry("TANDEM_MAX_MESSAGE_BYTES", "2097152"),
            Map.entry("TANDEM_METRICS_PORT", "9464"));
    assertEquals(
        new VisionServerConfig(
            Path.of("/env"),
            "cuda",
            7000,
            4,
            0,
            1L << 30,
            new EmbedLimits(1 << 20, 1000, 3, 5),
            2 << 20),
        VisionServerConfig.fromEnvironment(env));
    assertEquals(VisionServerConfig.fromEnvironment(env), VisionServerConfig.fromEnv(new Env(env)));

    String[] args = {"--model", "/flag", "--max-images=7", "--cache-bytes", "0", "--port", "0"};
    SettingValues v = VisionSettings.REGISTRY.resolve(VisionServer.flags(args), env);
    VisionServerConfig s = VisionServerConfig.from(v);
    assertEquals(Path.of("/flag"), s.model());
    assertEquals(7, s.limits().maxImages());
    assertEquals(0, s.cacheBytes());
    assertEquals(0, s.port());
    assertEquals(4, s.maxBatchTiles(), "from the variable");
    assertEquals(9464, v.get(VisionSettings.METRICS_PORT));
  }

  @Test
  void aBadValueNamesItsFlagOrVariableAndWhatIsAllowed() {
    record Case(Map<String, String> flags, Map<String, String> env, String message) {}
    for (Case c :
        List.of(
            new Case(
                Map.of("device", "tpu"),
                Map.of(),
                "--device=tpu: device tpu is not allowed (allowed: cpu, cuda)"),
            new Case(
                Map.of(),
                Map.of("TANDEM_VISION_MAX_IMAGES", "0"),
                "TANDEM_VISION_MAX_IMAGES=0: must be >= 1"),
            new Case(
                Map.of(),
                Map.of("TANDEM_PORT", "70000"),
                "TANDEM_PORT=70000: must be from 0 to 65535"),
            new Case(
                Map.of("max-image-bytes", "3g"),
                Map.of(),
                "--max-image-bytes=3g: must be from 1 to 2147483647 bytes"),
            new Case(
                Map.of("batch-wait-ms", "soon"),
                Map.of(),
                "--batch-wait-ms=soon: is not a whole number"),
            new Case(
                Map.of("max-tiles", "4"),
                Map.of(),
                "unknown flag --max-tiles (allowed: --model, --device,"))) {
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> VisionSettings.REGISTRY.resolve(c.flags(), c.env()));
      assertTrue(e.getMessage().startsWith(c.message()), e.getMessage());
    }
    var noModel =
        assertThrows(
            IllegalArgumentException.class, () -> VisionServerConfig.fromEnvironment(Map.of()));
    assertEquals("no model: pass --model DIR or set TANDEM_MODEL", noModel.getMessage());
    var small =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                VisionServerConfig.fromEnvironment(
                    Map.of("TANDEM_MODEL", "/m", "TANDEM_MAX_MESSAGE_BYTES", "1000")));
    assertTrue(small.getMessage().contains("is below 1 MiB"), small.getMessage());
  }

  @Test
  void theServersArgumentsAreFlagValuePairs() {
    assertEquals(
        Map.of("model", "/m", "port", "0"),
        VisionServer.flags(new String[] {"--model", "/m", "--port=0"}));
    assertThrows(IllegalArgumentException.class, () -> VisionServer.flags(new String[] {"/m"}));
    assertThrows(
        IllegalArgumentException.class, () -> VisionServer.flags(new String[] {"--model"}));
    assertNull(VisionSettings.REGISTRY.byFlag("max-tiles"));
  }

  @Test
  void theDocsTableIsTheRegistrys() throws Exception {
    SettingsDocs.assertTableIsCurrent(
        SettingsDocs.page("vision-svc.md"), "vision-svc", VisionSettings.REGISTRY);
    for (Setting<?> s : VisionSettings.REGISTRY.all())
      assertTrue(s.env().startsWith("TANDEM_"), s.env());
  }
}
