package tandem.vision;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DTypesTest {
  @ParameterizedTest(name = "{0} -> float16 {1}")
  @CsvSource({
    "0.0, 0x0000", "-0.0, 0x8000", "1.0, 0x3C00", "-2.0, 0xC000", "0.1, 0x2E66", "65504.0, 0x7BFF",
    "65520.0, 0x7C00", "1e10, 0x7C00", "6.0e-8, 0x0001", "2.0e-8, 0x0000", "6.1035156e-05, 0x0400",
    "1.00048828125, 0x3C00", "1.00146484375, 0x3C02", "Infinity, 0x7C00", "-Infinity, 0xFC00"
  })
  void float16RoundsToNearestEven(float f, String hex) {
    assertEquals(Integer.decode(hex).shortValue(), DTypes.toFloat16(f));
  }

  @ParameterizedTest(name = "{0} -> bfloat16 {1}")
  @CsvSource({"0.0, 0x0000", "1.0, 0x3F80", "-2.0, 0xC000", "3.140625, 0x4049", "1.00390625, 0x3F80", "1.01171875, 0x3F82"})
  void bfloat16RoundsToNearestEven(float f, String hex) {
    assertEquals(Integer.decode(hex).shortValue(), DTypes.toBfloat16(f));
  }
}
