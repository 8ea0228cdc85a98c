package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import tandem.common.testing.Fixtures;

/**
 * {@code vlm serve gateway}'s options are the gateway's settings: each with its variable, checked
 * before a start.
 */
class ServeGatewayCommandTest {
  @Test
  void helpListsEverySettingWithItsVariableAndDefault() {
    var r = VlmRun.of("serve", "gateway", "--help");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("--max-new-tokens"), r.out());
    assertTrue(r.out().contains("$TANDEM_GATEWAY_MAX_NEW_TOKENS or 2048"), r.out());
    assertTrue(
        r.out().contains("--vision-addr, --vision") || r.out().contains("--vision, --vision-addr"),
        r.out());
    assertTrue(r.out().contains("--keepalive-seconds"), "the connection flags stay: " + r.out());
  }

  @Test
  void aBadValueIsRefusedNamingTheFlagAndWhatIsAllowed() {
    var r =
        VlmRun.of(
            "serve",
            "gateway",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--rate-per-second",
            "fast");
    assertNotEquals(0, r.code());
    assertTrue(r.err().contains("--rate-per-second=fast: must be a number >= 0"), r.err());
  }
}
