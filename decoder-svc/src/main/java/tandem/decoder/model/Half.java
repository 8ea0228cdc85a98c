package tandem.decoder.model;

/** float32 → IEEE binary16 rounding (nearest, ties to even), for Q8_0 block scales; Java 17 has no Float.floatToFloat16. */
final class Half {
  private Half() {}

  /** {@code f} rounded to the nearest float16 value, returned as a float (exact); overflow gives ±infinity. */
  static float round(float f) {
    if (Float.isNaN(f) || Float.isInfinite(f) || f == 0f) return f;
    float a = Math.abs(f);
    if (a >= 65520f) return Math.copySign(Float.POSITIVE_INFINITY, f); // past the largest half (65504) + half an ulp
    // ulp of the half grid at this magnitude: 2^(e-10) for normals (e >= -14), 2^-24 for subnormals
    int e = Math.getExponent(a);
    float ulp = e < -14 ? 0x1p-24f : Math.scalb(1f, e - 10);
    // scaling by a power of two is exact, and Math.rint rounds half to even
    float r = (float) (Math.rint(a / ulp) * ulp);
    return Math.copySign(r, f);
  }
}
