package tandem.common.tensor;

/**
 * Every conversion between float32 and the two 16-bit float types, in one place (Java 17 has
 * neither {@code Float.floatToFloat16} nor {@code Float.float16ToFloat}). Widening is exact.
 * Narrowing rounds to nearest, ties to even; overflow gives infinity. The one NaN rule: a NaN stays
 * a NaN, quiet, with its sign (the bits that would round it to infinity are never used).
 */
public final class HalfFloats {
  private HalfFloats() {}

  /** bfloat16 bits (the low 16 bits of {@code bits}) to float32: exact. */
  public static float bf16ToFloat(int bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /** float32 to bfloat16 bits: the upper half of the float32 bits, rounded to nearest even. */
  public static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  /**
   * IEEE binary16 bits (the low 16 bits of {@code bits}) to float32: exact, subnormals included.
   */
  public static float f16ToFloat(int bits) {
    int h = bits & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f; // zero or subnormal: exact in float
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /**
   * float32 to IEEE binary16 bits, round to nearest even, overflow to infinity, subnormals kept.
   */
  public static short floatToF16(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
    int e = exp - 127 + 15;
    if (e >= 0x1f) return (short) (sign | 0x7c00);
    if (e <= 0) {
      if (e < -10) return (short) sign; // below half the smallest subnormal
      mant |= 0x800000; // the implicit bit
      int shift = 14 - e;
      int half = mant >>> shift;
      int rem = mant & ((1 << shift) - 1);
      int mid = 1 << (shift - 1);
      if (rem > mid || (rem == mid && (half & 1) == 1)) half++;
      return (short) (sign | half);
    }
    int half = (e << 10) | (mant >>> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1))
      half++; // may carry into the exponent: still correct
    return (short) (sign | half);
  }

  /** {@code f} rounded to the nearest float16 value, as a float32 (exact). */
  public static float roundToF16(float f) {
    return f16ToFloat(floatToF16(f));
  }
}
