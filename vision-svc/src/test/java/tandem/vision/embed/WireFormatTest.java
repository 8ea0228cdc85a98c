package tandem.vision.embed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tandem.common.tensor.HalfFloats;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;
import tandem.vision.cache.CachedEmbedding;

/**
 * The element types an embedding goes out in: the one codec's rounding, and the tensor vision-svc
 * writes with it.
 */
class WireFormatTest {
  @ParameterizedTest(name = "{0} -> float16 {1}")
  @CsvSource({
    "0.0, 0x0000",
    "-0.0, 0x8000",
    "1.0, 0x3C00",
    "-2.0, 0xC000",
    "0.1, 0x2E66",
    "65504.0, 0x7BFF",
    "65520.0, 0x7C00",
    "1e10, 0x7C00",
    "6.0e-8, 0x0001",
    "2.0e-8, 0x0000",
    "6.1035156e-05, 0x0400",
    "1.00048828125, 0x3C00",
    "1.00146484375, 0x3C02",
    "Infinity, 0x7C00",
    "-Infinity, 0xFC00"
  })
  void float16RoundsToNearestEven(float f, String hex) {
    assertEquals(Integer.decode(hex).shortValue(), HalfFloats.floatToF16(f));
  }

  @ParameterizedTest(name = "{0} -> bfloat16 {1}")
  @CsvSource({
    "0.0, 0x0000",
    "1.0, 0x3F80",
    "-2.0, 0xC000",
    "3.140625, 0x4049",
    "1.00390625, 0x3F80",
    "1.01171875, 0x3F82"
  })
  void bfloat16RoundsToNearestEven(float f, String hex) {
    assertEquals(Integer.decode(hex).shortValue(), HalfFloats.floatToBf16(f));
  }

  @Test
  void anEmbeddingIsATensorOfTilesTimesTokensByHiddenInTheAskedType() {
    float[] v = {1f, -2f, 0.1f, 65520f, 3.140625f, 0f};
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    CachedEmbedding e =
        new CachedEmbedding(0, 0, 10, 10, 1, 2, 3, b.array()); // 1 tile of 2 tokens x 3
    Tensor f32 = WireFormat.tensor(e, DType.DTYPE_UNSPECIFIED);
    assertEquals(List.of(2L, 3L), f32.getShapeList());
    assertEquals(DType.DTYPE_FLOAT32, f32.getDtype());
    assertArrayEquals(b.array(), f32.getData().toByteArray());
    for (DType t : List.of(DType.DTYPE_FLOAT16, DType.DTYPE_BFLOAT16)) {
      Tensor h = WireFormat.tensor(e, t);
      assertEquals(t, h.getDtype());
      ByteBuffer got = h.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      assertEquals(v.length * 2, got.remaining());
      for (int i = 0; i < v.length; i++) {
        short want =
            t == DType.DTYPE_FLOAT16 ? HalfFloats.floatToF16(v[i]) : HalfFloats.floatToBf16(v[i]);
        assertEquals(want, got.getShort(2 * i), t + " element " + i);
      }
    }
  }
}
