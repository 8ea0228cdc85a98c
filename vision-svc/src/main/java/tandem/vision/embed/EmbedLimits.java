package tandem.vision;

import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/**
 * Per-request limits: encoded bytes per image, decoded pixels per image (checked from the header), images per
 * request, and how long a call waits for its encodings when the caller set no deadline.
 */
public record EmbedLimits(int maxImageBytes, long maxImagePixels, int maxImages, int maxWaitSeconds) {
  public EmbedLimits {
    if (maxImageBytes < 1 || maxImagePixels < 1 || maxImages < 1 || maxWaitSeconds < 1)
      throw new IllegalArgumentException("vision limits must be positive");
  }

  /** With the default wait. */
  public EmbedLimits(int maxImageBytes, long maxImagePixels, int maxImages) {
    this(maxImageBytes, maxImagePixels, maxImages, ServiceDefaults.DEFAULT_VISION_MAX_WAIT_SECONDS);
  }

  public static EmbedLimits defaults() {
    return new EmbedLimits(
        ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_BYTES,
        ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_PIXELS,
        ServiceDefaults.DEFAULT_VISION_MAX_IMAGES);
  }

  public static EmbedLimits fromEnv(Env env) {
    return new EmbedLimits(
        env.integer(ServiceDefaults.ENV_VISION_MAX_IMAGE_BYTES, ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_BYTES),
        env.longValue(ServiceDefaults.ENV_VISION_MAX_IMAGE_PIXELS, ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_PIXELS),
        env.integer(ServiceDefaults.ENV_VISION_MAX_IMAGES, ServiceDefaults.DEFAULT_VISION_MAX_IMAGES),
        env.integer(ServiceDefaults.ENV_VISION_MAX_WAIT_SECONDS, ServiceDefaults.DEFAULT_VISION_MAX_WAIT_SECONDS));
  }
}
