package tandem.vision;

import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/** Per-request limits: encoded bytes per image, decoded pixels per image (checked from the header), images per request. */
public record EmbedLimits(int maxImageBytes, long maxImagePixels, int maxImages) {
  public EmbedLimits {
    if (maxImageBytes < 1 || maxImagePixels < 1 || maxImages < 1)
      throw new IllegalArgumentException("vision limits must be positive");
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
        env.integer(ServiceDefaults.ENV_VISION_MAX_IMAGES, ServiceDefaults.DEFAULT_VISION_MAX_IMAGES));
  }
}
