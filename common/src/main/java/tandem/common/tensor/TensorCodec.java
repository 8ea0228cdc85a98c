package tandem.common.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;

/**
 * The wire form of tensors ({@code tandem.types.v1.Tensor}: shape, dtype, little-endian bytes) and
 * back: the one codec vision-svc writes embeddings with and decoder-svc reads them with.
 * Conversions are {@link HalfFloats}'.
 */
public final class TensorCodec {
  private TensorCodec() {}

  /** Bytes per element of {@code dtype}; unspecified means float32. */
  public static int bytesPer(DType dtype) {
    return switch (dtype) {
      case DTYPE_UNSPECIFIED, DTYPE_FLOAT32 -> 4;
      case DTYPE_FLOAT16, DTYPE_BFLOAT16 -> 2;
      default ->
          throw new IllegalArgumentException(
              "dtype "
                  + dtype
                  + " is not allowed (allowed: DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16)");
    };
  }

  /** float32 little-endian bytes as {@code dtype}'s bytes (float32: the same array). */
  public static byte[] fromFloat32le(byte[] float32le, DType dtype) {
    if (bytesPer(dtype) == 4) return float32le;
    ByteBuffer in = ByteBuffer.wrap(float32le).order(ByteOrder.LITTLE_ENDIAN);
    int n = float32le.length / 4;
    ByteBuffer out = ByteBuffer.allocate(n * 2).order(ByteOrder.LITTLE_ENDIAN);
    boolean f16 = dtype == DType.DTYPE_FLOAT16;
    for (int i = 0; i < n; i++) {
      float f = in.getFloat(i * 4);
      out.putShort(i * 2, f16 ? HalfFloats.floatToF16(f) : HalfFloats.floatToBf16(f));
    }
    return out.array();
  }

  /**
   * A tensor of {@code shape} from float32 little-endian bytes, converted to {@code dtype}. The
   * tensor may share {@code float32le} (float32 is sent as it is, without a copy): the caller must
   * not write it afterwards. vision-svc's cached embeddings never change once made.
   */
  public static Tensor encode(byte[] float32le, DType dtype, long... shape) {
    Tensor.Builder t =
        Tensor.newBuilder()
            .setDtype(dtype == DType.DTYPE_UNSPECIFIED ? DType.DTYPE_FLOAT32 : dtype);
    for (long d : shape) t.addShape(d);
    byte[] data = fromFloat32le(float32le, dtype);
    // a half-precision array is new and ours, and the float32 one is never written again: wrap
    return t.setData(com.google.protobuf.UnsafeByteOperations.unsafeWrap(data)).build();
  }

  /**
   * The rows of every block, concatenated, as float32. A block is a tensor of rank >= 1 whose last
   * dimension is {@code width} ({@code [rows, width]} or {@code [tiles, 64, width]}). Throws
   * IllegalArgumentException naming the block ({@code what[i]}) and what is wrong: no shape, a
   * negative or wrong last dimension, a byte count that does not match, a dtype not allowed, or a
   * value that is not finite.
   */
  public static float[] decodeRows(List<Tensor> blocks, int width, String what) {
    long total = 0;
    for (int b = 0; b < blocks.size(); b++) {
      Tensor t = blocks.get(b);
      if (t.getShapeCount() == 0)
        throw new IllegalArgumentException(what + "[" + b + "] has no shape");
      long n = 1;
      for (long d : t.getShapeList()) {
        if (d < 0)
          throw new IllegalArgumentException(what + "[" + b + "] has a negative dimension");
        try {
          n = Math.multiplyExact(n, d);
        } catch (ArithmeticException overflow) {
          n = Long.MAX_VALUE; // refused below as too large (it was INTERNAL)
        }
      }
      // larger than any array: refused before the byte count is computed, which could wrap
      if (n > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException(
            what + "[" + b + "] has shape " + t.getShapeList() + ": too many elements for a block");
      }
      long last = t.getShape(t.getShapeCount() - 1);
      if (last != width) {
        throw new IllegalArgumentException(
            what
                + "["
                + b
                + "] has shape "
                + t.getShapeList()
                + "; its last dimension must be the model's hidden size "
                + width);
      }
      long want = n * bytesPer(t, b, what);
      if (t.getData().size() != want) {
        throw new IllegalArgumentException(
            what
                + "["
                + b
                + "] has "
                + t.getData().size()
                + " bytes but shape "
                + t.getShapeList()
                + " of "
                + t.getDtype()
                + " needs "
                + want);
      }
      total += n; // each n is below 2^31, so the sum cannot wrap before this check stops it
      if (total > Integer.MAX_VALUE - 8)
        throw new IllegalArgumentException(what + " are too large");
    }
    float[] out = new float[(int) total];
    int at = 0;
    for (int b = 0; b < blocks.size(); b++) {
      Tensor t = blocks.get(b);
      ByteBuffer buf = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      int n = t.getData().size() / bytesPer(t, b, what);
      switch (t.getDtype()) {
        case DTYPE_FLOAT16 -> {
          for (int i = 0; i < n; i++) out[at + i] = HalfFloats.f16ToFloat(buf.getShort());
        }
        case DTYPE_BFLOAT16 -> {
          for (int i = 0; i < n; i++) out[at + i] = HalfFloats.bf16ToFloat(buf.getShort());
        }
        default -> buf.asFloatBuffer().get(out, at, n);
      }
      for (int i = at; i < at + n; i++) {
        if (!Float.isFinite(out[i])) {
          throw new IllegalArgumentException(
              what + "[" + b + "] holds a non-finite value at element " + (i - at));
        }
      }
      at += n;
    }
    return out;
  }

  private static int bytesPer(Tensor t, int b, String what) {
    try {
      return bytesPer(t.getDtype());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          what
              + "["
              + b
              + "] has dtype "
              + t.getDtype()
              + "; allowed: DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16");
    }
  }
}
