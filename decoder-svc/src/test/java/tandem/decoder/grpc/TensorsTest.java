package tandem.decoder.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class TensorsTest {
  record Case(int half, float value) {}

  @Test
  void halfPrecisionBitsDecodeToTheirExactValues() {
    for (Case c : List.of(new Case(0x3c00, 1f), new Case(0xc000, -2f), new Case(0x3555, 0.33325195f),
        new Case(0x0001, 0x1p-24f), new Case(0x7bff, 65504f), new Case(0x8000, -0f),
        new Case(0x7c00, Float.POSITIVE_INFINITY))) {
      assertEquals(c.value(), Tensors.halfToFloat(c.half()), "0x" + Integer.toHexString(c.half()));
    }
  }
}
