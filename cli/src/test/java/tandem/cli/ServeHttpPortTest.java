package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.gateway.config.GatewaySettings;

/**
 * {@code vlm serve}'s HTTP port: on by default, off with -1, and never opened silently next to a
 * TLS Chat port.
 */
class ServeHttpPortTest {
  static ServeCommand serve(Integer flag) {
    ServeCommand c = new ServeCommand();
    c.httpPort = flag;
    return c;
  }

  @Test
  void theAllInOneServerOpensTheHttpPortByDefault() {
    assertEquals(
        ServiceDefaults.HTTP_PORT, serve(null).httpSettings(new Env(Map.of()), false).port());
    assertEquals(
        9999,
        serve(null)
            .httpSettings(new Env(Map.of(GatewaySettings.HTTP_PORT.env(), "9999")), false)
            .port());
    assertEquals(
        7777,
        serve(7777)
            .httpSettings(new Env(Map.of(GatewaySettings.HTTP_PORT.env(), "9999")), false)
            .port());
  }

  @Test
  void minusOneTurnsItOff() {
    assertNull(serve(-1).httpSettings(new Env(Map.of()), false));
    assertNull(
        serve(null).httpSettings(new Env(Map.of(GatewaySettings.HTTP_PORT.env(), "-1")), false));
  }

  @Test
  void withTlsOnTheChatPortPlainHttpOpensOnlyWhenAskedFor() {
    assertNull(serve(null).httpSettings(new Env(Map.of()), true));
    assertEquals(8081, serve(8081).httpSettings(new Env(Map.of()), true).port());
  }

  @Test
  void aBadPortOrSettingIsAUserErrorNamingIt() {
    UserError e =
        assertThrows(UserError.class, () -> serve(70000).httpSettings(new Env(Map.of()), false));
    assertTrue(e.getMessage().contains(GatewaySettings.HTTP_PORT.env()), e.getMessage());
    UserError k =
        assertThrows(
            UserError.class,
            () ->
                serve(null)
                    .httpSettings(
                        new Env(Map.of(GatewaySettings.HTTP_KEEPALIVE_SECONDS.env(), "0")), false));
    assertTrue(
        k.getMessage().contains(GatewaySettings.HTTP_KEEPALIVE_SECONDS.env()), k.getMessage());
  }

  @Test
  void theAllInOneFlagsResolveBeforeTheModelIsLookedAt() {
    VlmRun r =
        VlmRun.of(
            "serve",
            "--model",
            "/nonexistent/ckpt",
            "--http-port",
            "0",
            "--port",
            "0",
            "--device",
            "cpu",
            "--metrics-port",
            "0",
            "--keepalive-seconds",
            "30");
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("/nonexistent/ckpt"), r.err());
    VlmRun bad = VlmRun.of("serve", "--model", "/nonexistent/ckpt", "--http-port", "-2");
    assertEquals(2, bad.code());
    assertTrue(bad.err().contains("--http-port=-2: must be from -1 to 65535"), bad.err());
  }
}
