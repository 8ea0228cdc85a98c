package tandem.gateway.boxes;

/**
 * One box read from a {@code <box>…</box>} span. {@code norm} is x1, y1, x2, y2 in per-mille
 * (0–1000), clamped and ordered (x1 ≤ x2, y1 ≤ y2); null when the span could not be read ({@code
 * parsed} false, {@code raw} keeps the text so it is reported rather than dropped). {@code
 * complete} is false for a span cut off by the end of output.
 */
public record BoxSpan(String label, double[] norm, boolean parsed, boolean complete, String raw) {
  public static BoxSpan unparsed(String raw, boolean complete) {
    return new BoxSpan("", null, false, complete, raw);
  }

  /** Pixels of an image of the given size: per-mille of its width (x) and height (y). */
  public double[] pixels(int width, int height) {
    if (norm == null) return null;
    return new double[] {
      norm[0] / 1000.0 * width,
      norm[1] / 1000.0 * height,
      norm[2] / 1000.0 * width,
      norm[3] / 1000.0 * height
    };
  }

  @Override
  public String toString() {
    return parsed
        ? String.format("%s [%.0f, %.0f, %.0f, %.0f]", label, norm[0], norm[1], norm[2], norm[3])
        : "unparsed: " + raw;
  }
}
