package tandem.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.config.SettingValues;
import tandem.common.testing.SettingsDocs;
import tandem.gateway.GatewayServer;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.GatewayLimits;

class GatewaySettingsTest {
  @Test
  void theDocsTableIsTheRegistrys() throws Exception {
    SettingsDocs.assertTableIsCurrent(
        SettingsDocs.page("gateway.md"), "gateway", GatewaySettings.REGISTRY);
  }

  /** A flag wins over its variable, and the old flag names (--vision) are aliases. */
  @Test
  void flagsWinOverTheEnvironmentAndTheOldFlagNamesStillWork() {
    Map<String, String> env =
        Map.of(
            "TANDEM_MODEL",
            "/ckpt",
            "TANDEM_VISION_ADDR",
            "v:1",
            "TANDEM_DECODER_ADDR",
            "d:2",
            "TANDEM_GATEWAY_MAX_NEW_TOKENS",
            "7",
            "TANDEM_GATEWAY_DECODER_LOAD_FACTOR",
            "2");
    GatewayServer.Config c =
        GatewayServer.Config.from(
            GatewaySettings.REGISTRY.resolve(
                Map.of(
                    "vision",
                    "v:9",
                    "decoder-addr",
                    "d:9",
                    "max-new-tokens",
                    "9",
                    "http-port",
                    "0"),
                env));
    assertEquals(Path.of("/ckpt"), c.model());
    assertEquals("v:9", c.visionAddr());
    assertEquals("d:9", c.decoderAddr());
    assertEquals(9, c.limits().maxNewTokens());
    assertEquals(2.0, c.routing().decoderLoadFactor());
    assertEquals(0, c.http().port());
    assertEquals(50051, c.port());
  }

  @Test
  void theSplitGatewayHasNoHttpPortUnlessSetAndTheAllInOneDefaultAppliesOnlyWhenUnset() {
    SettingValues unset = GatewaySettings.resolve(new Env(Map.of()));
    assertNull(HttpSettings.from(unset, -1, null));
    assertEquals(8080, HttpSettings.from(unset, 8080, null).port());
    SettingValues off = GatewaySettings.resolve(new Env(Map.of("TANDEM_HTTP_PORT", "-1")));
    assertNull(HttpSettings.from(off, 8080, null), "-1 set explicitly stays off");
    SettingValues hosts =
        GatewaySettings.resolve(
            new Env(Map.of("TANDEM_HTTP_IMAGE_URL_HOSTS", " A.example ,,b.example")));
    assertEquals(
        List.of("a.example", "b.example"), HttpSettings.from(hosts, 0, null).imageUrlHosts());
  }

  @Test
  void aBadValueNamesItsVariableAndWhatIsAllowed() {
    var rate =
        assertThrows(
            IllegalArgumentException.class,
            () -> GatewaySettings.resolve(new Env(Map.of("TANDEM_GATEWAY_RATE_PER_SECOND", "-1"))));
    assertEquals("TANDEM_GATEWAY_RATE_PER_SECOND=-1: must be a number >= 0", rate.getMessage());
    var factor =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                GatewaySettings.resolve(
                    new Env(Map.of("TANDEM_GATEWAY_DECODER_LOAD_FACTOR", "Infinity"))));
    assertEquals(
        "TANDEM_GATEWAY_DECODER_LOAD_FACTOR=Infinity: must be a number >= 1", factor.getMessage());
    var resolve =
        assertThrows(
            IllegalArgumentException.class,
            () -> GatewaySettings.resolve(new Env(Map.of("TANDEM_GATEWAY_RESOLVE_SECONDS", "0"))));
    assertEquals("TANDEM_GATEWAY_RESOLVE_SECONDS=0: must be >= 1", resolve.getMessage());
    var model =
        assertThrows(
            IllegalArgumentException.class, () -> GatewayServer.Config.fromEnv(new Env(Map.of())));
    assertTrue(model.getMessage().contains("TANDEM_MODEL"), model.getMessage());
  }

  @Test
  void theRecordsDefaultsAreTheRegistrysDefaults() {
    GatewayLimits d = GatewayLimits.defaults();
    assertEquals(4096, d.maxPromptTokens());
    assertEquals(20.0, d.ratePerSecond());
    assertEquals(32 << 20, d.input().maxRequestBytes());
    assertEquals(
        Duration.ofSeconds(30), tandem.gateway.routing.RoutingSettings.defaults().resolvePeriod());
    assertEquals(20 << 20, HttpSettings.onPort(0).maxImageBytes());
  }
}
