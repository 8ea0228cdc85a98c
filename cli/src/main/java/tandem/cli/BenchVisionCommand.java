package tandem.cli;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.common.config.CommonSettings;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * {@code vlm bench vision}: times a running vision-svc. Misses use freshly generated images (never
 * cached); the per-batch-size runs ask the server for a smaller batch cap with {@code
 * max_batch_tiles}. The last stdout line is one JSON object with every number (keep it stable:
 * scripts parse it).
 */
@Command(
    name = "vision",
    mixinStandardHelpOptions = true,
    description =
        "Benchmark vision-svc: ms per tile on a miss (batch 1 and the best batch size), ms per"
            + " request on a cache hit, preprocessing ms per image.")
public final class BenchVisionCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--server", required = true, description = "vision-svc address host:port.")
  String server;

  /** TLS (vision-svc with internal mTLS wants --tls-ca, --tls-cert and --tls-key). */
  @picocli.CommandLine.Mixin ClientOptions client = new ClientOptions();

  @Option(
      names = "--batch-sizes",
      defaultValue = "1,2,4,8",
      split = ",",
      description =
          "Batch caps to time a miss at, one fresh 512x512 image each (default: ${DEFAULT-VALUE}).")
  int[] batchSizes;

  @Option(
      names = "--hits",
      defaultValue = "20",
      description = "Cache-hit requests to time (default: ${DEFAULT-VALUE}).")
  int hits;

  @Option(
      names = "--wait-seconds",
      defaultValue = "600",
      description =
          "How long to wait for the server to report SERVING (default: ${DEFAULT-VALUE}).")
  int waitSeconds;

  @Option(
      names = "--seed",
      defaultValue = "1",
      description =
          "Seed of the generated images; change it to miss a warm server's cache (default:"
              + " ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() throws Exception {
    if (batchSizes.length == 0 || Arrays.stream(batchSizes).anyMatch(b -> b < 1))
      throw new UserError(
          "--batch-sizes must be positive integers, got " + Arrays.toString(batchSizes));
    if (hits < 1) throw new UserError("--hits must be at least 1");
    var out = spec.commandLine().getOut();
    ManagedChannel ch = client.open(server);
    try {
      awaitServing(ch);
      var stub =
          VisionServiceGrpc.newBlockingStub(ch)
              .withMaxOutboundMessageSize(CommonSettings.MAX_MESSAGE_BYTES.defaultValue());
      long runSeed = seed * 1_000_003L + System.nanoTime();

      // 1. Misses at each batch cap: one fresh 512x512 image per cap.
      List<double[]> sweep =
          new ArrayList<>(); // {cap asked, cap applied, ms/tile, request ms, preprocess ms, tiles}
      byte[] lastImage = null;
      String modelId = "";
      for (int b : batchSizes) {
        byte[] img = png(noise(512, 512, runSeed + b));
        long t0 = System.nanoTime();
        EmbedResponse r = call(stub, img, b);
        double wall = (System.nanoTime() - t0) / 1e6;
        if (r.getImages(0).getCacheHit())
          throw new UserError("a fresh image was a cache hit; rerun with another --seed");
        int tiles = r.getImages(0).getTiles();
        double perTile = r.getTimings().getEncodeMs() / tiles;
        sweep.add(
            new double[] {
              b,
              r.getTimings().getMaxBatchTiles(),
              perTile,
              wall,
              r.getTimings().getPreprocessMs(),
              tiles
            });
        modelId = r.getModelId();
        lastImage = img;
        out.printf(
            Locale.ROOT,
            "miss, batch cap %d (applied %d): %.1f ms/tile, request %.0f ms (%d tiles, preprocess"
                + " %.1f ms)%n",
            b,
            r.getTimings().getMaxBatchTiles(),
            perTile,
            wall,
            tiles,
            r.getTimings().getPreprocessMs());
        out.flush();
      }
      double[] best = sweep.stream().min((x, y) -> Double.compare(x[2], y[2])).orElseThrow();
      double[] one = sweep.stream().filter(x -> x[1] == 1).findFirst().orElse(null);
      // The miss to compare a hit with: the same 512x512 image at the best batch size.
      double missMs = best[3];

      // 2. Hits: the last image again.
      double[] hitMs = new double[hits];
      for (int i = 0; i < hits; i++) {
        long t0 = System.nanoTime();
        EmbedResponse r = call(stub, lastImage, 0);
        hitMs[i] = (System.nanoTime() - t0) / 1e6;
        if (!r.getImages(0).getCacheHit())
          throw new UserError(
              "expected a cache hit; is the server's cache disabled (--cache-bytes 0)?");
      }
      Arrays.sort(hitMs);
      double hitMedian = hitMs[hits / 2];

      // 3. Preprocessing of a 1920x1080 JPEG against its encode time.
      byte[] jpeg = jpeg(photoLike(1920, 1080, runSeed + 99));
      EmbedResponse big = call(stub, jpeg, 0);
      double pre1080 = big.getTimings().getPreprocessMs();
      double enc1080 = big.getTimings().getEncodeMs();
      double pre512 = sweep.stream().mapToDouble(x -> x[4]).average().orElse(0);

      out.printf(
          Locale.ROOT,
          "miss: %s ms/tile at batch 1; best batch %d: %.1f ms/tile%n",
          one == null ? "n/a" : String.format(Locale.ROOT, "%.1f", one[2]),
          (int) best[1],
          best[2]);
      out.printf(
          Locale.ROOT,
          "hit: %.2f ms/request (median of %d) vs miss %.0f ms/request: %.3f%% of a miss (512x512,"
              + " %d tiles)%n",
          hitMedian,
          hits,
          missMs,
          100 * hitMedian / missMs,
          (int) best[5]);
      out.printf(
          Locale.ROOT,
          "preprocess: %.1f ms per 512x512 PNG; %.1f ms per 1920x1080 JPEG (%d bytes) = %.2f%% of"
              + " its encode (%.0f ms, %d tiles)%n",
          pre512,
          pre1080,
          jpeg.length,
          100 * pre1080 / enc1080,
          enc1080,
          big.getImages(0).getTiles());
      out.printf(
          Locale.ROOT,
          "{\"model_id\":\"%s\",\"tiles_512\":%d,\"ms_per_tile_batch1\":%s,\"best_batch\":%d,\"ms_per_tile_best\":%.3f,"
              + "\"sweep\":[%s],\"miss_ms_per_request\":%.3f,\"hit_ms_per_request\":%.3f,\"hit_over_miss\":%.6f,"
              + "\"preprocess_ms_512_png\":%.3f,\"preprocess_ms_1080p_jpeg\":%.3f,"
              + "\"encode_ms_1080p_jpeg\":%.3f,\"tiles_1080p\":%d,"
              + "\"preprocess_over_encode_1080p\":%.6f}%n",
          modelId,
          (int) best[5],
          one == null ? "null" : String.format(Locale.ROOT, "%.3f", one[2]),
          (int) best[1],
          best[2],
          String.join(
              ",",
              sweep.stream()
                  .map(
                      x ->
                          String.format(
                              Locale.ROOT, "{\"batch\":%d,\"ms_per_tile\":%.3f}", (int) x[1], x[2]))
                  .toList()),
          missMs,
          hitMedian,
          hitMedian / missMs,
          pre512,
          pre1080,
          enc1080,
          big.getImages(0).getTiles(),
          pre1080 / enc1080);
      out.flush();
      return 0;
    } finally {
      ch.shutdownNow();
      ch.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static EmbedResponse call(
      VisionServiceGrpc.VisionServiceBlockingStub stub, byte[] image, int cap) {
    try {
      return stub.embed(
          EmbedRequest.newBuilder()
              .addImages(ImageInput.newBuilder().setData(ByteString.copyFrom(image)))
              .setMaxBatchTiles(cap)
              .build());
    } catch (StatusRuntimeException e) {
      throw new UserError("Embed failed: " + ClientOptions.statusLine(e));
    }
  }

  private void awaitServing(ManagedChannel ch) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(waitSeconds);
    String last = "";
    while (System.nanoTime() < deadline) {
      try {
        var s =
            HealthGrpc.newBlockingStub(ch)
                .withDeadlineAfter(5, TimeUnit.SECONDS)
                .check(
                    HealthCheckRequest.newBuilder()
                        .setService("tandem.vision.v1.VisionService")
                        .build());
        if (s.getStatus() == HealthCheckResponse.ServingStatus.SERVING) return;
        last = s.getStatus().toString();
      } catch (StatusRuntimeException e) {
        // waiting does not fix a refused certificate or token: say so now rather than after
        // --wait-seconds
        if (ClientOptions.permanent(e))
          throw new UserError("vision-svc at " + server + ": " + client.describe(e));
        last = client.describe(e);
      }
      Thread.sleep(500);
    }
    throw new UserError(
        "vision-svc at "
            + server
            + " is not SERVING after "
            + waitSeconds
            + " s (last: "
            + last
            + ")");
  }

  /** Uniform RGB noise: incompressible, never seen before by the cache. */
  static BufferedImage noise(int w, int h, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, r.nextInt(1 << 24));
    return img;
  }

  /** Smooth gradients with mild noise, so the JPEG is photo-sized rather than noise-sized. */
  static BufferedImage photoLike(int w, int h, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int red = clamp(255 * x / w + r.nextInt(16) - 8);
        int green = clamp(255 * y / h + r.nextInt(16) - 8);
        int blue = clamp((int) (128 + 100 * Math.sin((x + y) / 60.0)) + r.nextInt(16) - 8);
        img.setRGB(x, y, red << 16 | green << 8 | blue);
      }
    return img;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  static byte[] png(BufferedImage img) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    ImageIO.write(img, "png", b);
    return b.toByteArray();
  }

  static byte[] jpeg(BufferedImage img) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    ImageIO.write(img, "jpg", b);
    return b.toByteArray();
  }
}
