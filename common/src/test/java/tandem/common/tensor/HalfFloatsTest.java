package tandem.common.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;

class HalfFloatsTest {
  @Test
  void everyFloat16RoundTripsThroughFloat32() {
    for (int h = 0; h < 0x10000; h++) {
      float f = HalfFloats.f16ToFloat(h);
      if (Float.isNaN(f)) {
        assertTrue(Float.isNaN(HalfFloats.roundToF16(f)));
      } else {
        assertEquals((short) h, HalfFloats.floatToF16(f), "0x" + Integer.toHexString(h));
      }
    }
  }

  @Test
  void narrowingRoundsToNearestEvenAndKeepsNaN() {
    assertEquals(1f, HalfFloats.roundToF16(1f + 0x1p-11f)); // a tie: to the even neighbour
    assertEquals(
        1f + 0x1p-9f, HalfFloats.roundToF16(1f + 0x1p-10f + 0x1p-11f)); // a tie: up to even
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.roundToF16(65520f));
    assertEquals(65504f, HalfFloats.roundToF16(65519f));
    assertEquals(0x1p-24f, HalfFloats.roundToF16(0x1p-24f));
    assertEquals((short) 0x3f80, HalfFloats.floatToBf16(1f));
    assertEquals(
        (short) 0x3f80, HalfFloats.floatToBf16(Float.intBitsToFloat(0x3f808000))); // a tie: to even
    assertEquals((short) 0x3f82, HalfFloats.floatToBf16(Float.intBitsToFloat(0x3f818000)));
    float nan = Float.intBitsToFloat(0x7f800001); // would round to infinity without the NaN rule
    assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(nan))));
    assertTrue(Float.isNaN(HalfFloats.f16ToFloat(HalfFloats.floatToF16(nan))));
  }

  @Test
  void theCodecWritesAndReadsEachWireType() {
    float[] v = {1.5f, -2.25f, 0.1f, 3e-5f};
    ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) b.putFloat(f);
    // the wire bits from an independent reference: Python's struct.pack('<e') for float16, and the
    // upper half of the float32 bits rounded to nearest even for bfloat16
    int[] f16 = {0x3E00, 0xC080, 0x2E66, 0x01F7};
    int[] bf16 = {0x3FC0, 0xC010, 0x3DCD, 0x37FC};
    for (DType d : List.of(DType.DTYPE_FLOAT32, DType.DTYPE_FLOAT16, DType.DTYPE_BFLOAT16)) {
      Tensor t = TensorCodec.encode(b.array(), d, 2, 2);
      if (d != DType.DTYPE_FLOAT32) {
        ByteBuffer wire = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) {
          int want = d == DType.DTYPE_FLOAT16 ? f16[i] : bf16[i];
          assertEquals(want, wire.getShort(2 * i) & 0xFFFF, d + " bits of " + v[i]);
        }
      }
      float[] back = TensorCodec.decodeRows(List.of(t), 2, "x");
      for (int i = 0; i < v.length; i++) {
        // the value the pinned wire bits stand for, worked out here rather than by the codec
        float want =
            switch (d) {
              case DTYPE_FLOAT16 -> halfValue(f16[i]);
              case DTYPE_BFLOAT16 -> Float.intBitsToFloat(bf16[i] << 16);
              default -> v[i];
            };
        assertEquals(want, back[i], d + " " + i);
      }
    }
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                TensorCodec.decodeRows(
                    List.of(TensorCodec.encode(b.array(), DType.DTYPE_FLOAT32, 4)), 2, "rows"));
    assertEquals(
        "rows[0] has shape [4]; its last dimension must be the model's hidden size 2",
        e.getMessage());
  }

  /**
   * IEEE binary16 bits (finite) to their value: sign, 5-bit exponent (bias 15), 10-bit fraction.
   */
  private static float halfValue(int bits) {
    int e = (bits >> 10) & 0x1F;
    int m = bits & 0x3FF;
    float mag = e == 0 ? Math.scalb((float) m, -24) : Math.scalb(1f + m / 1024f, e - 15);
    return (bits & 0x8000) != 0 ? -mag : mag;
  }
}
