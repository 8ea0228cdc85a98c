package tandem.common.checkpoint;

import tandem.common.tensor.HalfFloats;

/**
 * bfloat16 as the checkpoint code names it: {@link HalfFloats}' conversions (widening exact;
 * narrowing to nearest, ties to even, as {@code torch.Tensor.to(torch.bfloat16)} rounds). The TRW-1
 * generator's weights are never NaN, so its bytes are the plain rounding of the float32 bits.
 */
public final class Bf16 {
  private Bf16() {}

  public static float toFloat(short bf16) {
    return HalfFloats.bf16ToFloat(bf16);
  }

  public static short fromFloat(float f) {
    return HalfFloats.floatToBf16(f);
  }
}
