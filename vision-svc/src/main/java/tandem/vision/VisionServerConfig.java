package tandem.vision;

import java.nio.file.Path;
import java.util.Map;
import tandem.common.config.Env;
import tandem.common.config.SettingValues;
import tandem.vision.config.VisionSettings;
import tandem.vision.embed.EmbedLimits;

/**
 * What vision-svc is built from: {@link VisionSettings}'s values (flags over environment variables)
 * as one record, checked again here for callers that build it directly (tests).
 */
public record VisionServerConfig(
    Path model,
    String device,
    int port,
    int maxBatchTiles,
    int batchWaitMs,
    long cacheBytes,
    EmbedLimits limits,
    int maxMessageBytes) {

  public VisionServerConfig {
    if (model == null) {
      throw new IllegalArgumentException(
          "no model: pass --"
              + VisionSettings.MODEL.flag()
              + " DIR or set "
              + VisionSettings.MODEL.env());
    }
    if (!device.equals("cpu") && !device.equals("cuda"))
      throw new IllegalArgumentException(
          "device " + device + " is not allowed (allowed: cpu, cuda)");
    if (port < 0 || port > 65535)
      throw new IllegalArgumentException("port " + port + " is out of range 0-65535");
    if (maxBatchTiles < 1)
      throw new IllegalArgumentException("max batch tiles must be >= 1, got " + maxBatchTiles);
    if (batchWaitMs < 0)
      throw new IllegalArgumentException("batch wait must be >= 0 ms, got " + batchWaitMs);
    if (cacheBytes < 0)
      throw new IllegalArgumentException("cache bytes must be >= 0, got " + cacheBytes);
    if (maxMessageBytes < 1 << 20) {
      throw new IllegalArgumentException(
          "max message bytes "
              + maxMessageBytes
              + " is below 1 MiB; a 17-tile image needs about 4.5 MB");
    }
  }

  /** The settings from resolved values; the model folder as given. */
  public static VisionServerConfig from(SettingValues v) {
    String model = v.get(VisionSettings.MODEL);
    return from(v, model == null ? null : Path.of(model));
  }

  /**
   * The settings from resolved values, with {@code model} for the model (a Hub id resolved to its
   * folder).
   */
  public static VisionServerConfig from(SettingValues v, Path model) {
    EmbedLimits limits =
        new EmbedLimits(
            v.get(VisionSettings.MAX_IMAGE_BYTES),
            v.get(VisionSettings.MAX_IMAGE_PIXELS),
            v.get(VisionSettings.MAX_IMAGES),
            v.get(VisionSettings.MAX_WAIT_SECONDS));
    return new VisionServerConfig(
        model,
        v.get(VisionSettings.DEVICE),
        v.get(VisionSettings.PORT),
        v.get(VisionSettings.MAX_BATCH_TILES),
        v.get(VisionSettings.BATCH_WAIT_MS),
        v.get(VisionSettings.CACHE_BYTES),
        limits,
        v.get(VisionSettings.MAX_MESSAGE_BYTES));
  }

  /** The settings from environment variables alone. */
  public static VisionServerConfig fromEnvironment(Map<String, String> environment) {
    return from(VisionSettings.REGISTRY.resolve(environment));
  }

  /** As {@link #fromEnvironment}, for callers that hold an {@link Env} (the all-in-one server). */
  public static VisionServerConfig fromEnv(Env env) {
    return from(env.read(VisionSettings.REGISTRY));
  }
}
