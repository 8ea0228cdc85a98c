package tandem.vision.config;

import java.util.List;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;

/**
 * Every setting of vision-svc, declared once: flag, environment variable, default, check and
 * meaning. The server's {@code main}, {@code vlm serve vision} and the all-in-one server read them
 * through {@link #REGISTRY}; the table in docs/vision-svc.md is {@link
 * SettingRegistry#markdownTable()}. Nothing here imports the rest of vision-svc, so the domain may
 * name a setting (a message that tells the operator which variable to raise) without a package
 * cycle.
 */
public final class VisionSettings {
  private VisionSettings() {}

  public static final Setting<String> MODEL = CommonSettings.MODEL;
  public static final Setting<String> DEVICE = CommonSettings.DEVICE;
  public static final Setting<Integer> PORT = CommonSettings.port(ServiceDefaults.VISION_PORT);
  public static final Setting<Integer> MAX_BATCH_TILES =
      Setting.integer(
          "max-batch-tiles",
          "TANDEM_VISION_MAX_BATCH_TILES",
          8,
          1,
          Integer.MAX_VALUE,
          "Most tiles in one forward pass of the tower.");
  public static final Setting<Integer> BATCH_WAIT_MS =
      Setting.integer(
          "batch-wait-ms",
          "TANDEM_VISION_BATCH_WAIT_MS",
          2,
          0,
          Integer.MAX_VALUE,
          "Milliseconds the batcher waits for more tiles before it runs a partial batch.");
  public static final Setting<Long> CACHE_BYTES =
      Setting.bytes(
          "cache-bytes",
          "TANDEM_VISION_CACHE_BYTES",
          512L << 20,
          0,
          "Embedding cache bound (data + 256 B per entry), least recently used evicted first; 0"
              + " stores nothing (identical images in flight are still encoded once).");
  public static final Setting<Integer> MAX_IMAGE_BYTES = CommonSettings.MAX_IMAGE_BYTES;
  public static final Setting<Long> MAX_IMAGE_PIXELS =
      Setting.longValue(
          "max-image-pixels",
          "TANDEM_VISION_MAX_IMAGE_PIXELS",
          50_000_000L,
          1,
          Long.MAX_VALUE,
          "Largest image, width × height read from its header before any pixel is decoded"
              + " (decompression bombs).");
  public static final Setting<Integer> MAX_IMAGES = CommonSettings.MAX_IMAGES;
  public static final Setting<Integer> MAX_WAIT_SECONDS =
      Setting.integer(
          "max-wait-seconds",
          "TANDEM_VISION_MAX_WAIT_SECONDS",
          900,
          1,
          Integer.MAX_VALUE,
          "Longest a call waits for its encodings when the caller set no deadline (then"
              + " DEADLINE_EXCEEDED).");
  public static final Setting<Integer> MAX_MESSAGE_BYTES = CommonSettings.MAX_MESSAGE_BYTES;
  public static final Setting<Integer> METRICS_PORT = CommonSettings.METRICS_PORT;

  /** vision-svc's settings, in the order help and docs list them. */
  public static final SettingRegistry REGISTRY =
      new SettingRegistry(
          "vision-svc",
          List.of(
              MODEL,
              DEVICE,
              PORT,
              MAX_BATCH_TILES,
              BATCH_WAIT_MS,
              CACHE_BYTES,
              MAX_IMAGE_BYTES,
              MAX_IMAGE_PIXELS,
              MAX_IMAGES,
              MAX_WAIT_SECONDS,
              MAX_MESSAGE_BYTES,
              METRICS_PORT));
}
