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
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingValues;
import tandem.common.testing.SettingsDocs;
import tandem.gateway.GatewayServer;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.limits.GatewayLimits;

class GatewaySettingsTest {
  @Test
  void theDocsTableIsTheRegistrys() throws Exception {
    SettingsDocs.assertTableIsCurrent(SettingsDocs.page("gateway.md"), "gateway", GatewaySettings.REGISTRY);
  }

  /** Until ServiceDefaults is pruned: the registry reads the variables, with the defaults, the gateway read before. */
  @Test
  void everyVariableAndDefaultIsTheOneTheGatewayReadBefore() {
    List<Object[]> table = List.of(
        new Object[] {GatewaySettings.VISION_ADDR, ServiceDefaults.ENV_VISION_ADDR,
            "localhost:" + ServiceDefaults.VISION_PORT},
        new Object[] {GatewaySettings.DECODER_ADDR, ServiceDefaults.ENV_DECODER_ADDR,
            "localhost:" + ServiceDefaults.DECODER_PORT},
        new Object[] {GatewaySettings.PORT, ServiceDefaults.ENV_PORT, ServiceDefaults.GATEWAY_PORT},
        new Object[] {GatewaySettings.MAX_MESSAGE_BYTES, ServiceDefaults.ENV_MAX_MESSAGE_BYTES,
            ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES},
        new Object[] {GatewaySettings.HTTP_PORT, ServiceDefaults.ENV_HTTP_PORT, null},
        new Object[] {GatewaySettings.METRICS_PORT, ServiceDefaults.ENV_METRICS_PORT, 0},
        new Object[] {GatewaySettings.RESOLVE_SECONDS, ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS,
            ServiceDefaults.DEFAULT_GATEWAY_RESOLVE_SECONDS},
        new Object[] {GatewaySettings.DECODER_LOAD_FACTOR, ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR,
            Double.parseDouble(ServiceDefaults.DEFAULT_GATEWAY_DECODER_LOAD_FACTOR)},
        new Object[] {GatewaySettings.LOAD_REPORT_SECONDS, ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS,
            ServiceDefaults.DEFAULT_GATEWAY_LOAD_REPORT_SECONDS},
        new Object[] {GatewaySettings.MAX_PROMPT_TOKENS, ServiceDefaults.ENV_GATEWAY_MAX_PROMPT_TOKENS,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_PROMPT_TOKENS},
        new Object[] {GatewaySettings.MAX_NEW_TOKENS, ServiceDefaults.ENV_GATEWAY_MAX_NEW_TOKENS,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_NEW_TOKENS},
        new Object[] {GatewaySettings.MAX_IMAGES, ServiceDefaults.ENV_VISION_MAX_IMAGES,
            ServiceDefaults.DEFAULT_VISION_MAX_IMAGES},
        new Object[] {GatewaySettings.MAX_STREAMS_PER_CLIENT, ServiceDefaults.ENV_GATEWAY_MAX_STREAMS_PER_CLIENT,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_STREAMS_PER_CLIENT},
        new Object[] {GatewaySettings.RATE_PER_SECOND, ServiceDefaults.ENV_GATEWAY_RATE_PER_SECOND,
            (double) ServiceDefaults.DEFAULT_GATEWAY_RATE_PER_SECOND},
        new Object[] {GatewaySettings.RATE_BURST, ServiceDefaults.ENV_GATEWAY_RATE_BURST,
            ServiceDefaults.DEFAULT_GATEWAY_RATE_BURST},
        new Object[] {GatewaySettings.MAX_CONCURRENT_STREAMS, ServiceDefaults.ENV_GATEWAY_MAX_CONCURRENT_STREAMS,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_CONCURRENT_STREAMS},
        new Object[] {GatewaySettings.BACKEND_DEADLINE_SECONDS, ServiceDefaults.ENV_GATEWAY_BACKEND_DEADLINE_SECONDS,
            ServiceDefaults.DEFAULT_GATEWAY_BACKEND_DEADLINE_SECONDS},
        new Object[] {GatewaySettings.MAX_REQUEST_BYTES, ServiceDefaults.ENV_GATEWAY_MAX_REQUEST_BYTES,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_REQUEST_BYTES},
        new Object[] {GatewaySettings.MAX_MESSAGES, ServiceDefaults.ENV_GATEWAY_MAX_MESSAGES,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_MESSAGES},
        new Object[] {GatewaySettings.MAX_PARTS_PER_MESSAGE, ServiceDefaults.ENV_GATEWAY_MAX_PARTS_PER_MESSAGE,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_PARTS_PER_MESSAGE},
        new Object[] {GatewaySettings.MAX_TEXT_BYTES, ServiceDefaults.ENV_GATEWAY_MAX_TEXT_BYTES,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_TEXT_BYTES},
        new Object[] {GatewaySettings.MAX_ID_BYTES, ServiceDefaults.ENV_GATEWAY_MAX_ID_BYTES,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_ID_BYTES},
        new Object[] {GatewaySettings.MAX_STOP_TOKEN_IDS, ServiceDefaults.ENV_GATEWAY_MAX_STOP_TOKEN_IDS,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_STOP_TOKEN_IDS},
        new Object[] {GatewaySettings.MAX_NO_REPEAT_NGRAM_SIZE, ServiceDefaults.ENV_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE},
        new Object[] {GatewaySettings.MAX_STOP_STRINGS, ServiceDefaults.ENV_GATEWAY_MAX_STOP_STRINGS,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_STOP_STRINGS},
        new Object[] {GatewaySettings.MAX_STOP_STRING_BYTES, ServiceDefaults.ENV_GATEWAY_MAX_STOP_STRING_BYTES,
            ServiceDefaults.DEFAULT_GATEWAY_MAX_STOP_STRING_BYTES},
        new Object[] {GatewaySettings.HTTP_IMAGE_URL_HOSTS, ServiceDefaults.ENV_HTTP_IMAGE_URL_HOSTS,
            ServiceDefaults.DEFAULT_HTTP_IMAGE_URL_HOSTS},
        new Object[] {GatewaySettings.HTTP_IMAGE_FETCH_SECONDS, ServiceDefaults.ENV_HTTP_IMAGE_FETCH_SECONDS,
            ServiceDefaults.DEFAULT_HTTP_IMAGE_FETCH_SECONDS},
        new Object[] {GatewaySettings.HTTP_KEEPALIVE_SECONDS, ServiceDefaults.ENV_HTTP_KEEPALIVE_SECONDS,
            ServiceDefaults.DEFAULT_HTTP_KEEPALIVE_SECONDS},
        new Object[] {GatewaySettings.MAX_IMAGE_BYTES, ServiceDefaults.ENV_VISION_MAX_IMAGE_BYTES,
            ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_BYTES});
    for (Object[] row : table) {
      Setting<?> s = (Setting<?>) row[0];
      assertEquals(row[1], s.env(), s.flag());
      assertEquals(row[2], s.defaultValue(), s.flag());
    }
    assertEquals(GatewaySettings.REGISTRY.all().size(), table.size() + 1, "every setting but the model is listed");
  }

  @Test
  void flagsWinOverTheEnvironmentAndTheOldFlagNamesStillWork() {
    Map<String, String> env = Map.of("TANDEM_MODEL", "/ckpt", "TANDEM_VISION_ADDR", "v:1", "TANDEM_DECODER_ADDR", "d:2",
        "TANDEM_GATEWAY_MAX_NEW_TOKENS", "7", "TANDEM_GATEWAY_DECODER_LOAD_FACTOR", "2");
    GatewayServer.Config c = GatewayServer.Config.from(GatewaySettings.REGISTRY.resolve(
        Map.of("vision", "v:9", "decoder-addr", "d:9", "max-new-tokens", "9", "http-port", "0"), env));
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
    SettingValues hosts = GatewaySettings.resolve(new Env(Map.of("TANDEM_HTTP_IMAGE_URL_HOSTS",
        " A.example ,,b.example")));
    assertEquals(List.of("a.example", "b.example"), HttpSettings.from(hosts, 0, null).imageUrlHosts());
  }

  @Test
  void aBadValueNamesItsVariableAndWhatIsAllowed() {
    var rate = assertThrows(IllegalArgumentException.class,
        () -> GatewaySettings.resolve(new Env(Map.of("TANDEM_GATEWAY_RATE_PER_SECOND", "-1"))));
    assertEquals("TANDEM_GATEWAY_RATE_PER_SECOND=-1: must be a number >= 0", rate.getMessage());
    var factor = assertThrows(IllegalArgumentException.class,
        () -> GatewaySettings.resolve(new Env(Map.of("TANDEM_GATEWAY_DECODER_LOAD_FACTOR", "Infinity"))));
    assertEquals("TANDEM_GATEWAY_DECODER_LOAD_FACTOR=Infinity: must be a number >= 1", factor.getMessage());
    var resolve = assertThrows(IllegalArgumentException.class,
        () -> GatewaySettings.resolve(new Env(Map.of("TANDEM_GATEWAY_RESOLVE_SECONDS", "0"))));
    assertEquals("TANDEM_GATEWAY_RESOLVE_SECONDS=0: must be >= 1", resolve.getMessage());
    var model = assertThrows(IllegalArgumentException.class, () -> GatewayServer.Config.fromEnv(new Env(Map.of())));
    assertTrue(model.getMessage().contains("TANDEM_MODEL"), model.getMessage());
  }

  @Test
  void theRecordsDefaultsAreTheRegistrysDefaults() {
    GatewayLimits d = GatewayLimits.defaults();
    assertEquals(4096, d.maxPromptTokens());
    assertEquals(20.0, d.ratePerSecond());
    assertEquals(32 << 20, d.input().maxRequestBytes());
    assertEquals(Duration.ofSeconds(30), tandem.gateway.routing.RoutingSettings.defaults().resolvePeriod());
    assertEquals(20 << 20, HttpSettings.onPort(0).maxImageBytes());
  }
}
