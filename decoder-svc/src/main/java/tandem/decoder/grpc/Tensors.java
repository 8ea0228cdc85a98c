package tandem.decoder.grpc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import tandem.proto.types.v1.Tensor;

/** Turns embedding blocks from the wire into float32 rows. Throws IllegalArgumentException saying what is wrong. */
final class Tensors {
  private Tensors() {}

  /**
   * Concatenates the rows of every block. A block is any tensor of rank >= 1 whose last dimension is the model's
   * hidden size (e.g. [rows, hidden] or vision-svc's [tiles, 64, hidden]); rows = product of the other dimensions.
   */
  static float[] rows(List<Tensor> blocks, int hidden) {
    long total = 0;
    for (int b = 0; b < blocks.size(); b++) {
      Tensor t = blocks.get(b);
      if (t.getShapeCount() == 0) throw new IllegalArgumentException("image_embeddings[" + b + "] has no shape");
      long n = 1;
      for (long d : t.getShapeList()) {
        if (d < 0) throw new IllegalArgumentException("image_embeddings[" + b + "] has a negative dimension");
        n = Math.multiplyExact(n, d);
      }
      long last = t.getShape(t.getShapeCount() - 1);
      if (last != hidden) {
        throw new IllegalArgumentException("image_embeddings[" + b + "] has shape " + t.getShapeList()
            + "; its last dimension must be the model's hidden size " + hidden);
      }
      long want = n * bytesPer(t, b);
      if (t.getData().size() != want) {
        throw new IllegalArgumentException("image_embeddings[" + b + "] has " + t.getData().size() + " bytes but shape "
            + t.getShapeList() + " of " + t.getDtype() + " needs " + want);
      }
      total += n;
    }
    if (total > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("image_embeddings are too large");
    float[] out = new float[(int) total];
    int at = 0;
    for (int b = 0; b < blocks.size(); b++) {
      Tensor t = blocks.get(b);
      ByteBuffer buf = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      int n = t.getData().size() / bytesPer(t, b);
      switch (t.getDtype()) {
        case DTYPE_UNSPECIFIED, DTYPE_FLOAT32 -> buf.asFloatBuffer().get(out, at, n);
        case DTYPE_FLOAT16 -> { for (int i = 0; i < n; i++) out[at + i] = halfToFloat(buf.getShort() & 0xffff); }
        case DTYPE_BFLOAT16 -> {
          for (int i = 0; i < n; i++) out[at + i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
        }
        default -> throw new IllegalArgumentException("image_embeddings[" + b + "] has unknown dtype " + t.getDtype());
      }
      for (int i = at; i < at + n; i++) {
        if (!Float.isFinite(out[i])) {
          throw new IllegalArgumentException("image_embeddings[" + b + "] holds a non-finite value at element "
              + (i - at));
        }
      }
      at += n;
    }
    return out;
  }

  private static int bytesPer(Tensor t, int b) {
    return switch (t.getDtype()) {
      case DTYPE_UNSPECIFIED, DTYPE_FLOAT32 -> 4;
      case DTYPE_FLOAT16, DTYPE_BFLOAT16 -> 2;
      default -> throw new IllegalArgumentException("image_embeddings[" + b + "] has dtype " + t.getDtype()
          + "; allowed: DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16");
    };
  }

  /** IEEE binary16 to float (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(int h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0) {
      float v = mant * 0x1p-24f; // zero or subnormal
      return sign != 0 ? -v : v;
    }
    if (exp == 31) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }
}
