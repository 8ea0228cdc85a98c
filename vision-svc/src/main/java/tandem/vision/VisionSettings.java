package tandem.vision;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import tandem.common.config.Env;
import tandem.common.config.Setting;
import tandem.common.config.SettingValues;
import tandem.vision.config.VisionRegistry;
import tandem.vision.embed.EmbedLimits;

/**
 * What vision-svc is built from: {@link VisionRegistry}'s values (flags over environment variables) as one record,
 * checked again here for callers that build it directly (tests).
 */
public record VisionSettings(
    Path model,
    String device,
    int port,
    int maxBatchTiles,
    int batchWaitMs,
    long cacheBytes,
    EmbedLimits limits,
    int maxMessageBytes) {

  public VisionSettings {
    if (model == null) {
      throw new IllegalArgumentException("no model: pass --" + VisionRegistry.MODEL.flag() + " DIR or set "
          + VisionRegistry.MODEL.env());
    }
    if (!device.equals("cpu") && !device.equals("cuda"))
      throw new IllegalArgumentException("device " + device + " is not allowed (allowed: cpu, cuda)");
    if (port < 0 || port > 65535) throw new IllegalArgumentException("port " + port + " is out of range 0-65535");
    if (maxBatchTiles < 1) throw new IllegalArgumentException("max batch tiles must be >= 1, got " + maxBatchTiles);
    if (batchWaitMs < 0) throw new IllegalArgumentException("batch wait must be >= 0 ms, got " + batchWaitMs);
    if (cacheBytes < 0) throw new IllegalArgumentException("cache bytes must be >= 0, got " + cacheBytes);
    if (maxMessageBytes < 1 << 20) {
      throw new IllegalArgumentException("max message bytes " + maxMessageBytes
          + " is below 1 MiB; a 17-tile image needs about 4.5 MB");
    }
  }

  /** The settings from resolved values; the model folder as given. */
  public static VisionSettings from(SettingValues v) {
    String model = v.get(VisionRegistry.MODEL);
    return from(v, model == null ? null : Path.of(model));
  }

  /** The settings from resolved values, with {@code model} for the model (a Hub id resolved to its folder). */
  public static VisionSettings from(SettingValues v, Path model) {
    EmbedLimits limits = new EmbedLimits(v.get(VisionRegistry.MAX_IMAGE_BYTES), v.get(VisionRegistry.MAX_IMAGE_PIXELS),
        v.get(VisionRegistry.MAX_IMAGES), v.get(VisionRegistry.MAX_WAIT_SECONDS));
    return new VisionSettings(model, v.get(VisionRegistry.DEVICE), v.get(VisionRegistry.PORT),
        v.get(VisionRegistry.MAX_BATCH_TILES), v.get(VisionRegistry.BATCH_WAIT_MS), v.get(VisionRegistry.CACHE_BYTES),
        limits, v.get(VisionRegistry.MAX_MESSAGE_BYTES));
  }

  /** The settings from environment variables alone. */
  public static VisionSettings fromEnvironment(Map<String, String> environment) {
    return from(VisionRegistry.REGISTRY.resolve(environment));
  }

  /** As {@link #fromEnvironment}, for callers that hold an {@link Env} (the all-in-one server). */
  public static VisionSettings fromEnv(Env env) {
    Map<String, String> vars = new HashMap<>();
    for (Setting<?> s : VisionRegistry.REGISTRY.all()) {
      String value = env.string(s.env(), null);
      if (value != null) vars.put(s.env(), value);
    }
    return fromEnvironment(vars);
  }
}
