package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class Bf16Test {
  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
    // float bits, bf16 bits: exact, round down, round up, ties to even (down and up), negative,
    // carry into exponent
    "3f800000, 3f80",
    "3f807fff, 3f80",
    "3f808001, 3f81",
    "3f808000, 3f80",
    "3f818000, 3f82",
    "bf808001, bf81",
    "3fffffff, 4000",
  })
  void narrowingRoundsToNearestEven(String floatHex, String bf16Hex) {
    float f = Float.intBitsToFloat(Integer.parseUnsignedInt(floatHex, 16));
    assertEquals(Integer.parseInt(bf16Hex, 16), Bf16.fromFloat(f) & 0xffff);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({"3f80, 1.0", "c000, -2.0", "3e0e, 0.138671875", "0000, 0.0"})
  void wideningIsExact(String bf16Hex, float expected) {
    assertEquals(expected, Bf16.toFloat((short) Integer.parseInt(bf16Hex, 16)));
  }
}
