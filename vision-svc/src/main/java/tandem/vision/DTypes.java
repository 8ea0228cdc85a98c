package tandem.vision;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** float32 little-endian bytes to the wire element types: float32 (as is), float16 or bfloat16, round to nearest even. */
public final class DTypes {
  private DTypes() {}

  /** The element types a client may ask for. */
  public enum Type { FLOAT32, FLOAT16, BFLOAT16 }

  public static byte[] convert(byte[] float32le, Type type) {
    if (type == Type.FLOAT32) return float32le;
    ByteBuffer in = ByteBuffer.wrap(float32le).order(ByteOrder.LITTLE_ENDIAN);
    int n = float32le.length / 4;
    ByteBuffer out = ByteBuffer.allocate(n * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      float f = in.getFloat(i * 4);
      out.putShort(i * 2, type == Type.FLOAT16 ? toFloat16(f) : toBfloat16(f));
    }
    return out.array();
  }

  /** bfloat16: the upper half of the float32 bits, rounded to nearest even; NaN stays a quiet NaN. */
  public static short toBfloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);
    return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
  }

  /** IEEE binary16, round to nearest even, overflow to infinity, subnormals kept (Java 17 has no Float.floatToFloat16). */
  public static short toFloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 0x1f) return (short) (sign | 0x7c00);
    if (e <= 0) {
      if (e < -10) return (short) sign; // below half the smallest subnormal
      mant |= 0x800000; // implicit bit
      int shift = 14 - e;
      int half = mant >>> shift;
      int rem = mant & ((1 << shift) - 1);
      int mid = 1 << (shift - 1);
      if (rem > mid || (rem == mid && (half & 1) == 1)) half++;
      return (short) (sign | half);
    }
    int half = (e << 10) | (mant >>> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1)) half++; // may carry into the exponent: still correct
    return (short) (sign | half);
  }
}
