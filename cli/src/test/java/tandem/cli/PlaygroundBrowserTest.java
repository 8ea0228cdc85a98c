package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.common.testing.NodeScripts;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.model.CausalLm;
import tandem.gateway.http.HttpSettings;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * The web playground in real headless Chromium (Debian {@code chromium} driven by npm {@code
 * playwright-core}): it chooses an image, asks, sees the answer stream in, and sees the box drawn
 * with its label where the answer put it. Everything but the decoder's weights is real (vision-svc,
 * template, detokenizer, box parser, HTTP front door); the decoder answers from a script, slowly,
 * so the answer arrives in many pieces. The screenshot is kept as {@code
 * cli/target/playground/playground.png}.
 */
class PlaygroundBrowserTest {
  static final String PREFIX = "Find: ";
  static final String ANSWER = "图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[123,256,574,789]}</box>。";
  // digits are single tokens: no bigram repeats, so the checkpoint's no_repeat_ngram_size (2)
  // leaves the script alone
  private static AllInOne server;

  /** Slows each decode step down, so the page sees the answer grow. */
  record Slow(CausalLm lm, long millis) implements CausalLm {
    public int vocabSize() {
      return lm.vocabSize();
    }

    public int hiddenSize() {
      return lm.hiddenSize();
    }

    public int slots() {
      return lm.slots();
    }

    public int maxSeqLen() {
      return lm.maxSeqLen();
    }

    public float[] embed(int[] ids) {
      return lm.embed(ids);
    }

    public float[] prefill(int slot, float[] inputEmbeds, int len) {
      return lm.prefill(slot, inputEmbeds, len);
    }

    public float[][] decode(int[] slots, int[] ids) {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return lm.decode(slots, ids);
    }

    public void release(int slot) {
      lm.release(slot);
    }

    public int length(int slot) {
      return lm.length(slot);
    }

    public void close() {
      lm.close();
    }
  }

  @BeforeAll
  static void start() throws Exception {
    Path model = TinyCheckpoints.vlmTiny();
    JsonObject text =
        JsonParser.parseString(Files.readString(model.resolve("config.json")))
            .getAsJsonObject()
            .getAsJsonObject("text_config");
    server =
        AllInOne.start(
            model,
            "cpu",
            Map.of("TANDEM_DECODER_MAX_BATCH", "2", "TANDEM_DECODER_MAX_SEQ_LEN", "2048"),
            InProcessServerBuilder.forName("playground-" + UUID.randomUUID()),
            Telemetry.noop(),
            (dir, cfg) ->
                new Slow(
                    new ScriptedGroundingLm(
                        QwenTokenizer.forCheckpointOrBundled(dir),
                        text.get("vocab_size").getAsInt(),
                        text.get("hidden_size").getAsInt(),
                        cfg.maxBatch(),
                        cfg.maxSeqLen(),
                        PREFIX,
                        Map.of("苹果", ANSWER)),
                    40),
            HttpSettings.onPort(0));
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  @Test
  void thePlaygroundStreamsTheAnswerAndDrawsTheBoxWithItsLabel() throws Exception {
    WebTests.requireChromium();
    Path shots = Files.createDirectories(Path.of("target", "playground").toAbsolutePath());
    Path shot = shots.resolve("playground.png");
    Files.deleteIfExists(shot);
    NodeScripts.Result r =
        WebTests.node(
            180,
            "playground.mjs",
            "http://127.0.0.1:" + server.httpPort() + "/",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            PREFIX + "苹果",
            shot.toString());
    assertEquals(0, r.exitCode(), r.output());
    JsonObject out = WebTests.json(r);
    assertEquals("", out.get("error").getAsString());
    assertEquals(0, out.getAsJsonArray("failedRequests").size(), out.toString());
    assertEquals(ANSWER, out.get("answer").getAsString());
    assertTrue(out.get("textUpdates").getAsInt() >= 3, "the answer streamed in pieces: " + out);
    assertTrue(out.get("finish").getAsString().startsWith("finished: stop"), out.toString());
    JsonArray boxes = out.getAsJsonArray("boxes");
    assertEquals(1, boxes.size(), out.toString());
    JsonObject b = boxes.get(0).getAsJsonObject();
    assertEquals("苹果", b.get("label").getAsString());
    // drawn where the answer put it: per-mille [123,256,574,789] of the shown image (2 px border,
    // 1% slack)
    assertEquals(0.123, b.get("left").getAsDouble(), 0.01);
    assertEquals(0.256, b.get("top").getAsDouble(), 0.01);
    assertEquals(0.451, b.get("width").getAsDouble(), 0.01);
    assertEquals(0.533, b.get("height").getAsDouble(), 0.01);
    assertTrue(
        out.getAsJsonArray("timings").toString().contains("time to first token"), out.toString());
    assertTrue(Files.size(shot) > 1000, "the screenshot was written: " + shot);
  }
}
