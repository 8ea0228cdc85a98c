package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.grpc.ServerHost;
import tandem.common.testing.TinyCheckpoints;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;
import tandem.vision.embed.EmbedLimits;

class VisionServeAndBenchTest {

  @Test
  void benchVisionPrintsEveryNumberAndEndsWithOneJsonObject() throws Exception {
    VisionServerConfig s =
        new VisionServerConfig(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            0,
            8,
            2,
            64L << 20,
            EmbedLimits.defaults(),
            128 << 20);
    try (VisionServer server =
        VisionServer.start(s, ServerHost.inProcess(NettyServerBuilder.forPort(0)))) {
      VlmRun r =
          VlmRun.of(
              "bench",
              "vision",
              "--server",
              "localhost:" + server.port(),
              "--batch-sizes",
              "1,4",
              "--hits",
              "3");
      assertEquals(0, r.code(), r.err());
      String last = r.out().strip().lines().reduce((a, b) -> b).orElseThrow();
      JsonObject j = JsonParser.parseString(last).getAsJsonObject();
      assertEquals(server.embedder().modelId(), j.get("model_id").getAsString());
      assertEquals(10, j.get("tiles_512").getAsInt()); // vlm-tiny: longest edge 1536 → 3x3 + global
      assertEquals(7, j.get("tiles_1080p").getAsInt()); // 1536x864 → 1536x1024 → 2x3 + global
      assertEquals(2, j.getAsJsonArray("sweep").size());
      assertEquals(1, j.getAsJsonArray("sweep").get(0).getAsJsonObject().get("batch").getAsInt());
      for (String k :
          new String[] {
            "ms_per_tile_batch1",
            "ms_per_tile_best",
            "hit_ms_per_request",
            "miss_ms_per_request",
            "preprocess_ms_1080p_jpeg",
            "encode_ms_1080p_jpeg"
          }) assertTrue(j.get(k).getAsDouble() > 0, k + " in " + last);
      assertTrue(
          j.get("hit_ms_per_request").getAsDouble() < j.get("miss_ms_per_request").getAsDouble(),
          last);
      assertTrue(r.out().contains("ms/tile at batch 1"), r.out());
    }
  }

  @Test
  void serveVisionWithoutACheckpointIsOneErrorLine(@TempDir Path tmp) {
    VlmRun r = VlmRun.of("serve", "vision", "--model", tmp.toString(), "--port", "0");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("vlm: error: --model " + tmp + " has no config.json"), r.err());
  }

  @Test
  void serveVisionRejectsABadDevice() {
    VlmRun r =
        VlmRun.of(
            "serve", "vision", "--model", TinyCheckpoints.vlmTiny().toString(), "--device", "tpu");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("device tpu is not allowed (allowed: cpu, cuda)"), r.err());
  }

  @Test
  void serveVisionTakesAMissingFolderThatIsNoHubIdAsATypo(@TempDir Path tmp) {
    VlmRun r = VlmRun.of("serve", "vision", "--model", tmp.resolve("no/such/ckpt").toString());
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: no folder ")
            && r.err().contains("is not a Hub repository id"),
        r.err());
  }

  @Test
  void serveVisionHelpListsEverySettingWithItsVariableAndDefault() {
    VlmRun r = VlmRun.of("serve", "vision", "--help");
    assertEquals(0, r.code(), r.err());
    String help = r.out().replaceAll("\\s+", " ");
    for (String s :
        new String[] {
          "--max-batch-tiles",
          "$TANDEM_VISION_MAX_BATCH_TILES or 8",
          "--cache-bytes",
          "$TANDEM_VISION_CACHE_BYTES or 512m",
          "--max-wait-seconds",
          "$TANDEM_VISION_MAX_WAIT_SECONDS or 900",
          "--keepalive-seconds",
          "$TANDEM_SHUTDOWN_GRACE_SECONDS (default 25)"
        }) {
      assertTrue(help.contains(s), s + " in " + help);
    }
  }

  @Test
  void benchVisionAgainstNoServerFailsWithOneLine() {
    VlmRun r = VlmRun.of("bench", "vision", "--server", "localhost:1", "--wait-seconds", "1");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("vlm: error: vision-svc at localhost:1 is not SERVING"), r.err());
  }
}
