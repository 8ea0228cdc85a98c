package tandem.vision.embed;

import tandem.vision.config.VisionSettings;

/**
 * Per-request limits: encoded bytes per image, decoded pixels per image (checked from the header),
 * images per request, and how long a call waits for its encodings when the caller set no deadline.
 */
public record EmbedLimits(
    int maxImageBytes, long maxImagePixels, int maxImages, int maxWaitSeconds) {
  public EmbedLimits {
    if (maxImageBytes < 1 || maxImagePixels < 1 || maxImages < 1 || maxWaitSeconds < 1)
      throw new IllegalArgumentException("vision limits must be positive");
  }

  /** With the default wait. */
  public EmbedLimits(int maxImageBytes, long maxImagePixels, int maxImages) {
    this(maxImageBytes, maxImagePixels, maxImages, VisionSettings.MAX_WAIT_SECONDS.defaultValue());
  }

  /** vision-svc's default limits. */
  public static EmbedLimits defaults() {
    return new EmbedLimits(
        VisionSettings.MAX_IMAGE_BYTES.defaultValue(),
        VisionSettings.MAX_IMAGE_PIXELS.defaultValue(),
        VisionSettings.MAX_IMAGES.defaultValue());
  }
}
