package tandem.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;

/** The KV cache settings as the environment gives them, and their refusals. */
class DecoderServerConfigTest {
  @Test
  void kvSettingsComeFromTheEnvironmentAndBadOnesNameTheVariable() {
    DecoderServerConfig d = DecoderServerConfig.fromEnv(new Env(Map.of()));
    assertEquals(0, d.kvCacheBytes());
    assertEquals("bf16", d.kvCacheDtype());
    assertTrue(d.prefixCache());

    DecoderServerConfig c = DecoderServerConfig.fromEnv(new Env(Map.of(
        "TANDEM_DECODER_KV_CACHE_BYTES", "1048576", "TANDEM_DECODER_KV_CACHE_DTYPE", "f32",
        "TANDEM_DECODER_PREFIX_CACHE", "Off")));
    assertEquals(1 << 20, c.kvCacheBytes());
    assertEquals("f32", c.options().kvDtype());
    assertFalse(c.options().prefixCache());

    var e = assertThrows(IllegalArgumentException.class,
        () -> DecoderServerConfig.fromEnv(new Env(Map.of("TANDEM_DECODER_PREFIX_CACHE", "maybe"))));
    assertTrue(e.getMessage().contains("TANDEM_DECODER_PREFIX_CACHE"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> DecoderServerConfig.fromEnv(new Env(Map.of("TANDEM_DECODER_KV_CACHE_DTYPE", "fp8"))));
    assertTrue(e.getMessage().contains("bf16 or f32"), e.getMessage());
  }
}
