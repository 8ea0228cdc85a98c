package tandem.vision;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/**
 * Everything vision-svc is configured with. Each setting has an environment variable (names in
 * {@link ServiceDefaults}) and a flag of the same meaning; a flag wins over the variable.
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
    if (model == null) throw new IllegalArgumentException("no model: pass --model DIR or set " + ServiceDefaults.ENV_MODEL);
    if (!device.equals("cpu") && !device.equals("cuda"))
      throw new IllegalArgumentException("device " + device + " is not allowed (allowed: cpu, cuda)");
    if (port < 0 || port > 65535) throw new IllegalArgumentException("port " + port + " is out of range 0-65535");
    if (maxBatchTiles < 1) throw new IllegalArgumentException("max batch tiles must be >= 1, got " + maxBatchTiles);
    if (batchWaitMs < 0) throw new IllegalArgumentException("batch wait must be >= 0 ms, got " + batchWaitMs);
    if (cacheBytes < 0) throw new IllegalArgumentException("cache bytes must be >= 0, got " + cacheBytes);
    if (maxMessageBytes < 1 << 20)
      throw new IllegalArgumentException("max message bytes " + maxMessageBytes + " is below 1 MiB; a 17-tile image needs about 4.5 MB");
  }

  /** Flag name (without dashes) → environment variable. */
  public static final Map<String, String> FLAGS = Map.ofEntries(
      Map.entry("model", ServiceDefaults.ENV_MODEL),
      Map.entry("device", ServiceDefaults.ENV_DEVICE),
      Map.entry("port", ServiceDefaults.ENV_PORT),
      Map.entry("max-batch-tiles", ServiceDefaults.ENV_VISION_MAX_BATCH_TILES),
      Map.entry("batch-wait-ms", ServiceDefaults.ENV_VISION_BATCH_WAIT_MS),
      Map.entry("cache-bytes", ServiceDefaults.ENV_VISION_CACHE_BYTES),
      Map.entry("max-image-bytes", ServiceDefaults.ENV_VISION_MAX_IMAGE_BYTES),
      Map.entry("max-image-pixels", ServiceDefaults.ENV_VISION_MAX_IMAGE_PIXELS),
      Map.entry("max-images", ServiceDefaults.ENV_VISION_MAX_IMAGES),
      Map.entry("max-wait-seconds", ServiceDefaults.ENV_VISION_MAX_WAIT_SECONDS),
      Map.entry("max-message-bytes", ServiceDefaults.ENV_MAX_MESSAGE_BYTES));

  public static VisionSettings fromEnv(Env env) {
    String model = env.string(ServiceDefaults.ENV_MODEL, null);
    return new VisionSettings(
        model == null ? null : Path.of(model),
        env.string(ServiceDefaults.ENV_DEVICE, "cpu"),
        env.integer(ServiceDefaults.ENV_PORT, ServiceDefaults.VISION_PORT),
        env.integer(ServiceDefaults.ENV_VISION_MAX_BATCH_TILES, ServiceDefaults.DEFAULT_VISION_MAX_BATCH_TILES),
        env.integer(ServiceDefaults.ENV_VISION_BATCH_WAIT_MS, ServiceDefaults.DEFAULT_VISION_BATCH_WAIT_MS),
        env.longValue(ServiceDefaults.ENV_VISION_CACHE_BYTES, ServiceDefaults.DEFAULT_VISION_CACHE_BYTES),
        EmbedLimits.fromEnv(env),
        env.integer(ServiceDefaults.ENV_MAX_MESSAGE_BYTES, ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES));
  }

  /** {@code --flag value} pairs over the environment; an unknown flag is an error listing the allowed ones. */
  public static VisionSettings fromArgs(String[] args, Map<String, String> environment) {
    Map<String, String> merged = new HashMap<>(environment);
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String name;
      String value;
      if (a.startsWith("--") && a.contains("=")) {
        name = a.substring(2, a.indexOf('='));
        value = a.substring(a.indexOf('=') + 1);
      } else if (a.startsWith("--") && i + 1 < args.length) {
        name = a.substring(2);
        value = args[++i];
      } else {
        throw new IllegalArgumentException("unexpected argument '" + a + "' (flags: --" + String.join(", --", FLAGS.keySet()) + ")");
      }
      String env = FLAGS.get(name);
      if (env == null) throw new IllegalArgumentException("unknown flag --" + name + " (allowed: --" + String.join(", --", FLAGS.keySet()) + ")");
      merged.put(env, value);
    }
    return fromEnv(new Env(merged));
  }
}
