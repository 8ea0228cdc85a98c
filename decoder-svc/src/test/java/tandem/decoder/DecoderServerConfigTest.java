package tandem.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.testing.SettingsDocs;

/**
 * The KV cache settings as the environment gives them, and their refusals; the docs' table of every
 * setting.
 */
class DecoderServerConfigTest {
  static DecoderServerConfig fromEnv(Map<String, String> env) {
    return DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(env));
  }

  @Test
  void kvSettingsComeFromTheEnvironmentAndBadOnesNameTheVariable() {
    DecoderServerConfig d = fromEnv(Map.of());
    assertEquals(0, d.kvCacheBytes(), "auto: 512 MiB on the CPU, the GPU memory fraction on CUDA");
    assertEquals(0.9, d.gpuMemoryFraction());
    assertEquals("bf16", d.kvCacheDtype());
    assertTrue(d.prefixCache());
    assertTrue(d.kvPreallocate(), "the server commits its KV budget at start by default");
    assertTrue(d.options().kvPreallocate());

    DecoderServerConfig c =
        fromEnv(
            Map.of(
                "TANDEM_DECODER_KV_CACHE_BYTES",
                "1048576",
                "TANDEM_DECODER_KV_CACHE_DTYPE",
                "f32",
                "TANDEM_DECODER_PREFIX_CACHE",
                "Off",
                "TANDEM_DECODER_KV_PREALLOCATE",
                "false",
                "TANDEM_DECODER_GPU_MEMORY_FRACTION",
                "0.5"));
    assertEquals(1 << 20, c.kvCacheBytes());
    assertEquals(0.5, c.options().gpuMemoryFraction());
    assertEquals("f32", c.options().kvDtype());
    assertFalse(c.options().prefixCache());
    assertFalse(c.options().kvPreallocate());
    assertFalse(c.withModel(Path.of("elsewhere")).options().kvPreallocate(), "kept by withModel");

    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> fromEnv(Map.of("TANDEM_DECODER_PREFIX_CACHE", "maybe")));
    assertTrue(e.getMessage().contains("TANDEM_DECODER_PREFIX_CACHE"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> fromEnv(Map.of("TANDEM_DECODER_KV_CACHE_DTYPE", "fp8")));
    assertTrue(e.getMessage().contains("bf16 or f32"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> fromEnv(Map.of("TANDEM_DECODER_GPU_MEMORY_FRACTION", "1.5")));
    assertTrue(e.getMessage().contains("TANDEM_DECODER_GPU_MEMORY_FRACTION"), e.getMessage());
  }

  @Test
  void theKvBudgetTakesSuffixesAndZeroStillMeansTheDefault() {
    assertEquals(2L << 30, fromEnv(Map.of("TANDEM_DECODER_KV_CACHE_BYTES", "2g")).kvCacheBytes());
    DecoderServerConfig zero = fromEnv(Map.of("TANDEM_DECODER_KV_CACHE_BYTES", "0"));
    assertEquals(
        0,
        zero.options().kvCacheBytes(),
        "0 reaches the model, which reads it as its default budget");
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> fromEnv(Map.of("TANDEM_DECODER_KV_CACHE_BYTES", "lots")));
    assertTrue(
        e.getMessage().startsWith("TANDEM_DECODER_KV_CACHE_BYTES=lots: ")
            && e.getMessage().contains("must be a byte count such as 536870912, 512m or 2g"),
        e.getMessage());
  }

  @Test
  void theWeightsSettingKeepsItsAliasesAndRefusesOtherFormats() {
    assertEquals("bfloat16", fromEnv(Map.of("TANDEM_DECODER_WEIGHTS", "BFloat16")).weights());
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> fromEnv(Map.of("TANDEM_DECODER_WEIGHTS", "int4")));
    assertTrue(e.getMessage().contains("auto, bf16, q8_0 or f32"), e.getMessage());
  }

  @Test
  void theDocsTableIsTheRegistrys() throws Exception {
    SettingsDocs.assertTableIsCurrent(
        SettingsDocs.page("decoder-svc.md"), "decoder-svc", DecoderSettings.REGISTRY);
  }
}
