package tandem.common.checkpoint;

/** bfloat16 conversions: widening is exact; narrowing rounds to nearest, ties to even (TRW-1 §4). */
public final class Bf16 {
  private Bf16() {}

  public static float toFloat(short bf16) {
    return Float.intBitsToFloat((bf16 & 0xffff) << 16);
  }

  /** Round-to-nearest-even on the raw bits, exactly as random-weights.md writes it (NaN is not special-cased). */
  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }
}
