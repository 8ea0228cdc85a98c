package tandem.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.telemetry.Telemetry;
import tandem.vision.VisionServer;
import tandem.vision.VisionSettings;

/**
 * {@code vlm serve vision}: vision-svc in this process. Every flag has an environment variable (docs/vision-svc.md);
 * a flag wins over the variable.
 */
@Command(name = "vision", mixinStandardHelpOptions = true, description = {
    "Serve vision-svc (image bytes in, connector embeddings out).",
    "On SIGTERM it drains: health NOT_SERVING, new calls UNAVAILABLE, calls in flight finish within"
        + " $TANDEM_SHUTDOWN_GRACE_SECONDS (default " + ServiceDefaults.DEFAULT_SHUTDOWN_GRACE_SECONDS + ")."
})
public final class ServeVisionCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Option(names = "--model", description = "Checkpoint folder (env TANDEM_MODEL).")
  String model;

  @Option(names = "--port", description = "gRPC port (env TANDEM_PORT, default 50052; 0 picks a free one).")
  String port;

  @Option(names = "--device", description = "cpu or cuda (env TANDEM_DEVICE, default cpu).")
  String device;

  @Option(names = "--max-batch-tiles", description = "Tiles per forward pass (env TANDEM_VISION_MAX_BATCH_TILES, default 8).")
  String maxBatchTiles;

  @Option(names = "--batch-wait-ms", description = "Wait for more tiles before a partial batch (env TANDEM_VISION_BATCH_WAIT_MS, default 2).")
  String batchWaitMs;

  @Option(names = "--cache-bytes", description = "Embedding cache bound, 0 disables (env TANDEM_VISION_CACHE_BYTES, default 512 MiB).")
  String cacheBytes;

  @Option(names = "--max-image-bytes", description = "Largest encoded image (env TANDEM_VISION_MAX_IMAGE_BYTES, default 20 MiB).")
  String maxImageBytes;

  @Option(names = "--max-image-pixels", description = "Largest decoded image, checked before decoding (env TANDEM_VISION_MAX_IMAGE_PIXELS, default 50e6).")
  String maxImagePixels;

  @Option(names = "--max-images", description = "Images per request (env TANDEM_VISION_MAX_IMAGES, default 16).")
  String maxImages;

  @Option(names = "--max-wait-seconds", description = "Longest wait for encodings when the caller set no deadline (env TANDEM_VISION_MAX_WAIT_SECONDS, default 900).")
  String maxWaitSeconds;

  @Option(names = "--max-message-bytes", description = "gRPC message limit (env TANDEM_MAX_MESSAGE_BYTES, default 128 MiB).")
  String maxMessageBytes;

  @Override
  public Integer call() throws Exception {
    List<String> args = new ArrayList<>();
    add(args, "model", model);
    add(args, "port", port);
    add(args, "device", device);
    add(args, "max-batch-tiles", maxBatchTiles);
    add(args, "batch-wait-ms", batchWaitMs);
    add(args, "cache-bytes", cacheBytes);
    add(args, "max-image-bytes", maxImageBytes);
    add(args, "max-image-pixels", maxImagePixels);
    add(args, "max-images", maxImages);
    add(args, "max-wait-seconds", maxWaitSeconds);
    add(args, "max-message-bytes", maxMessageBytes);
    VisionSettings s;
    try {
      s = VisionSettings.fromArgs(args.toArray(String[]::new), System.getenv());
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    if (!java.nio.file.Files.isRegularFile(s.model().resolve("config.json")))
      throw new UserError("--model " + s.model() + " has no config.json");
    Telemetry telemetry = Telemetry.fromEnv("tandem-vision", System.getenv(),
        Env.system().integer(ServiceDefaults.ENV_METRICS_PORT, 0), null);
    VisionServer server;
    try {
      // TANDEM_TLS_* on the port, TANDEM_HEALTH_PORT for probes (docs/security.md)
      server = VisionServer.startNetwork(s, connections.env(), telemetry);
    } catch (java.io.IOException | IllegalArgumentException e) {
      telemetry.close();
      throw new UserError("cannot start vision-svc: " + e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      telemetry.close();
    }, "vision-svc-shutdown"));
    var out = spec.commandLine().getOut();
    out.println("vision-svc listening on port " + server.port() + " (model " + server.embedder().modelId() + ", device "
        + server.tower().device() + ")");
    out.flush();
    server.awaitTermination();
    return 0;
  }

  private static void add(List<String> args, String flag, String value) {
    if (value != null) {
      args.add("--" + flag);
      args.add(value);
    }
  }
}
