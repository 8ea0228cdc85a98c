package tandem.decoder.model;

import java.util.Locale;

/**
 * How the CPU decoder keeps its weight matrices in memory (activations and accumulation are float32
 * in every case).
 *
 * <ul>
 *   <li>{@code bf16}: the checkpoint's bfloat16 values exactly, two bytes a weight. The default for
 *       a bf16 checkpoint.
 *   <li>{@code q8_0}: blocks of 32 int8 values with one scale each (llama.cpp's Q8_0: scale =
 *       max|w|/127 rounded to float16, q = round(w / scale)); ~1.06 bytes a weight plus the scales.
 *       Opt-in: an approximation.
 *   <li>{@code f32}: float32, four bytes a weight. The default for float32 checkpoints.
 * </ul>
 */
public enum WeightFormat {
  F32("f32", 4.0),
  BF16("bf16", 2.0),
  Q8_0("q8_0", 1.0 + 4.0 / 32);

  private final String id;
  private final double bytesPerWeight;

  WeightFormat(String id, double bytesPerWeight) {
    this.id = id;
    this.bytesPerWeight = bytesPerWeight;
  }

  /** The name used by flags, environment and JSON ("f32", "bf16", "q8_0"). */
  public String id() {
    return id;
  }

  double bytesPerWeight() {
    return bytesPerWeight;
  }

  /**
   * Parses a setting value; {@code auto} (or null/empty) gives null, which means "follow the
   * checkpoint".
   */
  public static WeightFormat parse(String s) {
    if (s == null || s.isBlank() || s.equalsIgnoreCase("auto")) return null;
    String v = s.trim().toLowerCase(Locale.ROOT);
    for (WeightFormat f : values()) if (f.id.equals(v)) return f;
    if (v.equals("float32") || v.equals("fp32")) return F32;
    if (v.equals("bfloat16")) return BF16;
    throw new IllegalArgumentException("weights must be auto, bf16, q8_0 or f32, got '" + s + "'");
  }

  @Override
  public String toString() {
    return id;
  }
}
