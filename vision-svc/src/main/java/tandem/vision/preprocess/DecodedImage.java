package tandem.vision.preprocess;

import java.util.Objects;

/**
 * A decoded image as Pillow's {@code Image.open} would hold it: 8-bit samples, interleaved (HWC),
 * row-major.
 *
 * <p>Modes follow Pillow: {@link Mode#L} (1 channel), {@link Mode#P} (1 channel of palette indices
 * plus a palette), {@link Mode#RGB} (3) and {@link Mode#RGBA} (4). The pixel array is owned by the
 * image; callers must not modify it.
 *
 * @param palette for mode P only: packed 0xRRGGBB per index (missing entries map to black); null
 *     otherwise
 */
public record DecodedImage(int width, int height, Mode mode, byte[] pixels, int[] palette) {

  /** Pillow image modes this pipeline handles. */
  public enum Mode {
    L(1),
    P(1),
    RGB(3),
    RGBA(4);

    public final int channels;

    Mode(int channels) {
      this.channels = channels;
    }
  }

  public DecodedImage {
    Objects.requireNonNull(mode, "mode");
    Objects.requireNonNull(pixels, "pixels");
    if (width <= 0 || height <= 0)
      throw new IllegalArgumentException("image size must be positive: " + width + "x" + height);
    if ((long) width * height * mode.channels != pixels.length) {
      throw new IllegalArgumentException(
          "pixel array has "
              + pixels.length
              + " bytes, "
              + width
              + "x"
              + height
              + " "
              + mode
              + " needs "
              + (long) width * height * mode.channels);
    }
    if ((mode == Mode.P) != (palette != null))
      throw new IllegalArgumentException("a palette is required for mode P only");
  }

  public static DecodedImage of(int width, int height, Mode mode, byte[] pixels) {
    return new DecodedImage(width, height, mode, pixels, null);
  }

  public int channels() {
    return mode.channels;
  }

  /** Same mode and palette, other pixels and size (what a resize or crop returns). */
  DecodedImage withPixels(int newWidth, int newHeight, byte[] newPixels) {
    return new DecodedImage(newWidth, newHeight, mode, newPixels, palette);
  }
}
