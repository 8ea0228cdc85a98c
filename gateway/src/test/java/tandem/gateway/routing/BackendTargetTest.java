package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class BackendTargetTest {
  @Test
  void aCommaSeparatedListGivesOneEntryPerHostPortWithoutDuplicates() {
    BackendTarget t =
        BackendTarget.parse(
            "TANDEM_VISION_ADDR", " 10.0.0.1:50052, vision-b:50052 ,[::1]:7,10.0.0.1:50052");
    assertEquals(
        List.of(
            new BackendTarget.HostPort("10.0.0.1", 50052),
            new BackendTarget.HostPort("vision-b", 50052),
            new BackendTarget.HostPort("::1", 7)),
        t.entries());
    assertEquals("[::1]:7", t.entries().get(2).authority());
  }

  @Test
  void aGrpcDnsTargetIsTheSameNameWithoutItsScheme() {
    assertEquals(
        List.of(new BackendTarget.HostPort("tandem-vision-headless", 50052)),
        BackendTarget.parse("X", "dns:///tandem-vision-headless:50052").entries());
  }

  @Test
  void badEntriesAreRefusedNamingTheSettingAndTheEntry() {
    for (String bad :
        List.of(
            "",
            "a:1,,b:2",
            "nohost",
            "host:",
            "host:port",
            "host:0",
            "host:70000",
            "::1:5",
            ":80",
            "[::1]5",
            "unix:/tmp/x:1")) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> BackendTarget.parse("TANDEM_DECODER_ADDR", bad),
              bad);
      assertTrue(e.getMessage().startsWith("TANDEM_DECODER_ADDR"), e.getMessage());
    }
  }
}
