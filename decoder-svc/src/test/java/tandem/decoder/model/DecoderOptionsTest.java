package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DecoderOptionsTest {
  @ParameterizedTest
  @CsvSource({
    "tpu,  float32, 1, 8, device must be cpu or cuda",
    "cpu,  bf16,    1, 8, dtype must be float32 or float16",
    "cpu,  float16, 1, 8, float16 needs device cuda",
    "cpu,  float32, 0, 8, slots must be >= 1",
    "cpu,  float32, 1, 0, maxSeqLen must be >= 1",
  })
  void invalidOptionsAreRejectedWithWhatIsAllowed(
      String device, String dtype, int slots, int max, String message) {
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> new DecoderOptions(device, dtype, slots, max));
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource({"CPU, Float32, cpu, float32", "cuda, float16, cuda, float16", ", , cpu, float32"})
  void namesAreNormalizedAndNullMeansTheCpuFloat32Default(
      String device, String dtype, String d, String t) {
    DecoderOptions o = new DecoderOptions(device, dtype, 2, 16);
    assertEquals(d, o.device());
    assertEquals(t, o.dtype());
  }
}
