package tandem.decoder.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.common.tensor.HalfFloats;
import tandem.common.tensor.TensorCodec;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;

/**
 * Image embedding blocks as {@link DecoderGrpcService} reads them (common's TensorCodec): float16
 * values exactly.
 */
class ImageEmbeddingsDecodeTest {
  record Case(int half, float value) {}

  static final List<Case> CASES =
      List.of(
          new Case(0x3c00, 1f),
          new Case(0xc000, -2f),
          new Case(0x3555, 0.33325195f),
          new Case(0x0001, 0x1p-24f),
          new Case(0x7bff, 65504f),
          new Case(0x8000, -0f),
          new Case(0x7c00, Float.POSITIVE_INFINITY));

  @Test
  void halfPrecisionBitsDecodeToTheirExactValues() {
    for (Case c : CASES) {
      assertEquals(
          c.value(), HalfFloats.f16ToFloat(c.half()), "0x" + Integer.toHexString(c.half()));
    }
  }

  @Test
  void aFloat16BlockArrivesAsTheExactRows() {
    List<Case> finite = CASES.stream().filter(c -> Float.isFinite(c.value())).toList();
    ByteBuffer b = ByteBuffer.allocate(2 * finite.size()).order(ByteOrder.LITTLE_ENDIAN);
    for (Case c : finite) b.putShort((short) c.half());
    Tensor t =
        Tensor.newBuilder()
            .setDtype(DType.DTYPE_FLOAT16)
            .addShape(finite.size())
            .addShape(1)
            .setData(ByteString.copyFrom(b.array()))
            .build();
    float[] rows = TensorCodec.decodeRows(List.of(t), 1, "image_embeddings");
    for (int i = 0; i < finite.size(); i++)
      assertEquals(finite.get(i).value(), rows[i], "row " + i);
  }
}
