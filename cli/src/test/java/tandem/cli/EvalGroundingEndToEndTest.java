package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.awt.image.BufferedImage;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * {@code vlm eval grounding} end to end against the all-in-one server (over a real port) on the
 * regenerated vlm-tiny checkpoint, with decoder-svc's model replaced by {@link
 * ScriptedGroundingLm}: the boxes are known per category in per-mille, the gateway maps them to
 * each image's pixels, so every metric is worked out below by hand.
 *
 * <p>Images: 1 = a.png 200×100, 2 = b.png 400×200, 3 = a missing file, 4 = bytes that are no image.
 * Categories 1 苹果, 2 dog, 3 cat. Two annotation entries are bad (a 3-number bbox, an unknown
 * category).
 *
 * <ul>
 *   <li>苹果 answers A = [100,100,500,500] then B = [100,100,300,300] (per-mille). Image 1's truth is
 *       A's pixels [20,10,80,40], image 2's is B's [40,20,80,40]. Ranked 1 and 1/2, ties in image
 *       order: A1 hit, A2 miss (IoU .25), B1 miss, B2 hit → precision 1, .5, .5, .5 after
 *       interpolation, recall .5, .5, .5, 1 → AP = (51·1 + 50·.5)/101 = 76/101 at every threshold
 *       (the hits have IoU 1).
 *   <li>dog answers [0,0,250,500] → [0,0,100,100] on image 2 against truth [0,0,100,50]: IoU
 *       exactly .5, so AP50 = 1, AP75 = 0, AP = 1/10.
 *   <li>cat answers a box that does not parse: no prediction, AP 0, one parse failure out of four
 *       answers.
 * </ul>
 */
class EvalGroundingEndToEndTest {
  static final double TOL = 1e-12;
  static final String PREFIX = "检测图片中的";

  static AllInOne server;
  static ScriptedGroundingLm lm;
  static String address;

  @TempDir Path tmp;
  Path annotations;
  Path images;

  @BeforeAll
  static void start() throws Exception {
    Path model = TinyCheckpoints.vlmTiny();
    JsonObject text =
        JsonParser.parseString(Files.readString(model.resolve("config.json")))
            .getAsJsonObject()
            .getAsJsonObject("text_config");
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_DECODER_MAX_BATCH", "4");
    env.put("TANDEM_DECODER_MAX_SEQ_LEN", "1024");
    server =
        AllInOne.start(
            model,
            "cpu",
            env,
            NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
            Telemetry.noop(),
            (dir, cfg) -> {
              lm =
                  new ScriptedGroundingLm(
                      QwenTokenizer.forCheckpointOrBundled(dir),
                      text.get("vocab_size").getAsInt(),
                      text.get("hidden_size").getAsInt(),
                      cfg.maxBatch(),
                      cfg.maxSeqLen(),
                      PREFIX,
                      Map.of(
                          "苹果",
                              "<box>{\"label\":\"苹果\",\"bbox\":[100,100,500,500]}</box><box>[100,100,300,300]</box>",
                          "dog", "图中有一只狗<box>{\"label\":\"dog\",\"bbox\":[0,0,250,500]}</box>",
                          "cat", "<box>no idea</box>"));
              return lm;
            });
    address = "127.0.0.1:" + server.port();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  @BeforeEach
  void dataset() throws Exception {
    images = Files.createDirectories(tmp.resolve("images"));
    ImageIO.write(
        new BufferedImage(200, 100, BufferedImage.TYPE_INT_RGB),
        "png",
        images.resolve("a.png").toFile());
    BufferedImage b = new BufferedImage(400, 200, BufferedImage.TYPE_INT_RGB);
    b.setRGB(10, 10, 0xff8800);
    ImageIO.write(b, "png", images.resolve("b.png").toFile());
    Files.writeString(images.resolve("broken.png"), "this is not a picture");
    annotations = tmp.resolve("ann.json");
    Files.writeString(
        annotations,
        """
        {"images": [
          {"id": 1, "file_name": "a.png", "width": 200, "height": 100},
          {"id": 2, "file_name": "b.png", "width": 400, "height": 200},
          {"id": 3, "file_name": "missing.png", "width": 10, "height": 10},
          {"id": 4, "file_name": "broken.png", "width": 10, "height": 10}],
         "categories": [{"id": 1, "name": "苹果"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "cat"}],
         "annotations": [
          {"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 10, 80, 40], "area": 3200, "iscrowd": 0},
          {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
          {"id": 3, "image_id": 2, "category_id": 1, "bbox": [40, 20, 80, 40], "area": 3200, "iscrowd": 0},
          {"id": 4, "image_id": 2, "category_id": 2, "bbox": [0, 0, 100, 50], "area": 5000, "iscrowd": 0},
          {"id": 5, "image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
          {"id": 6, "image_id": 4, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
          {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "area": 6, "iscrowd": 0},
          {"id": 8, "image_id": 1, "category_id": 99, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}]}
        """);
  }

  VlmRun eval(Path out, String... extra) {
    List<String> a =
        new ArrayList<>(
            List.of(
                "eval",
                "grounding",
                "--server",
                address,
                "--annotations",
                annotations.toString(),
                "--images",
                images.toString(),
                "--out",
                out.toString(),
                "--concurrency",
                "2",
                "--min-new-tokens",
                "0",
                "--no-repeat-ngram-size",
                "0",
                "--max-new-tokens",
                "64"));
    a.addAll(List.of(extra));
    return VlmRun.of(a.toArray(String[]::new));
  }

  static JsonObject metrics(Path out) throws Exception {
    return JsonParser.parseString(Files.readString(out.resolve("metrics.json"))).getAsJsonObject();
  }

  static double d(JsonObject o, String k) {
    assertFalse(o.get(k).isJsonNull(), k + " is null in " + o);
    return o.get(k).getAsDouble();
  }

  @Test
  void aRunScoresTheSyntheticSetExactlyAndSkipsBadEntriesWithOneLineEach() throws Exception {
    Path out = tmp.resolve("report");
    int before = lm.questions.get(), labelsBefore = lm.labels.size();
    var r = eval(out);
    assertEquals(0, r.code(), r.err());
    // 4 questions: image 1 (苹果, cat), image 2 (苹果, dog); images 3 and 4 are never asked
    assertEquals(4, lm.questions.get() - before);
    // the decoder read each category name back out of the prompt "检测图片中的{label}"
    List<String> asked = new ArrayList<>(lm.labels.subList(labelsBefore, lm.labels.size()));
    java.util.Collections.sort(asked);
    assertEquals(List.of("cat", "dog", "苹果", "苹果"), asked);

    List<String> warnings = r.err().lines().filter(l -> l.startsWith("vlm: warning:")).toList();
    assertEquals(4, warnings.size(), r.err());
    assertTrue(
        warnings.get(0).contains("annotations[6]")
            && warnings.get(0).contains("bbox must be 4 numbers"),
        warnings.get(0));
    assertTrue(
        warnings.get(1).contains("annotations[7]") && warnings.get(1).contains("category_id 99"),
        warnings.get(1));
    assertTrue(
        warnings.stream().anyMatch(w -> w.contains("image 3 (missing.png): no file")), r.err());
    assertTrue(
        warnings.stream().anyMatch(w -> w.contains("image 4 (broken.png): does not decode")),
        r.err());
    assertTrue(
        r.err().contains("] 4/6 answers, 2 skipped"), r.err()); // the progress bar's last state

    JsonObject m = metrics(out);
    assertEquals((76.0 / 101 + 0.1 + 0) / 3, d(m, "AP"), TOL);
    assertEquals((76.0 / 101 + 1 + 0) / 3, d(m, "AP50"), TOL);
    assertEquals((76.0 / 101 + 0 + 0) / 3, d(m, "AP75"), TOL);
    assertEquals(2.5 / 3, d(m, "mean_iou"), TOL); // matches with IoU 1, 1, .5
    assertEquals(3.0 / 5, d(m, "precision50")); // 3 of the 5 predicted boxes match
    assertEquals(3.0 / 4, d(m, "recall50")); // 3 of 4 true boxes found (cat's is not)
    assertEquals(1.0 / 4, d(m, "parse_failures"));
    assertEquals(2, m.get("images").getAsInt());
    JsonObject skipped = m.getAsJsonObject("skipped");
    assertEquals(2, skipped.get("annotation_entries").getAsInt());
    assertEquals(1, skipped.get("missing_images").getAsInt());
    assertEquals(1, skipped.get("undecodable_images").getAsInt());
    assertEquals("[3,4]", m.getAsJsonObject("settings").get("skipped_image_ids").toString());
    assertEquals(
        "1 / rank of the box in its answer (the model gives no confidence)",
        m.getAsJsonObject("settings").get("score").getAsString());

    JsonObject per = m.getAsJsonObject("per_category");
    assertEquals(List.of("苹果", "dog", "cat"), List.copyOf(per.keySet()));
    JsonObject apple = per.getAsJsonObject("苹果"),
        dog = per.getAsJsonObject("dog"),
        cat = per.getAsJsonObject("cat");
    for (String k : List.of("AP", "AP50", "AP75")) assertEquals(76.0 / 101, d(apple, k), TOL, k);
    assertEquals(1.0, d(apple, "mean_iou"), TOL);
    assertEquals(0.5, d(apple, "precision50"));
    assertEquals(1.0, d(apple, "recall50"));
    assertEquals(0.0, d(apple, "parse_failures"));
    assertEquals(0.1, d(dog, "AP"), TOL);
    assertEquals(1.0, d(dog, "AP50"), TOL);
    assertEquals(0.0, d(dog, "AP75"));
    assertEquals(0.5, d(dog, "mean_iou"), TOL);
    assertEquals(0.0, d(cat, "AP"));
    assertEquals(0.0, d(cat, "recall50"));
    assertTrue(
        cat.get("precision50").isJsonNull() && cat.get("mean_iou").isJsonNull(), cat.toString());
    assertEquals(1.0, d(cat, "parse_failures"));

    // and they are pycocotools' numbers, to the bit (eval/e2e holds this run's truths and boxes,
    // scored by it)
    JsonObject ref =
        JsonParser.parseString(
                Files.readString(
                    tandem.cli.eval.EvalCocoReferenceTest.dir("e2e").resolve("expected.json")))
            .getAsJsonObject();
    tandem.cli.eval.EvalCocoReferenceTest.check("overall", ref, m);
    for (String c : List.of("苹果", "dog", "cat")) {
      tandem.cli.eval.EvalCocoReferenceTest.check(
          c, ref.getAsJsonObject("per_category").getAsJsonObject(c), per.getAsJsonObject(c));
    }

    // predictions.json: COCO results, [x, y, w, h] pixels, score 1/rank, image then category then
    // rank
    JsonArray p =
        JsonParser.parseString(Files.readString(out.resolve("predictions.json"))).getAsJsonArray();
    assertEquals(5, p.size());
    double[][] expected = {
      {1, 1, 20, 10, 80, 40, 1},
      {1, 1, 20, 10, 40, 20, 0.5},
      {2, 1, 40, 20, 160, 80, 1},
      {2, 1, 40, 20, 80, 40, 0.5},
      {2, 2, 0, 0, 100, 100, 1}
    };
    for (int i = 0; i < expected.length; i++) {
      JsonObject o = p.get(i).getAsJsonObject();
      assertEquals(expected[i][0], o.get("image_id").getAsDouble(), "image of " + i);
      assertEquals(expected[i][1], o.get("category_id").getAsDouble(), "category of " + i);
      JsonArray b = o.getAsJsonArray("bbox");
      for (int k = 0; k < 4; k++)
        assertEquals(expected[i][2 + k], b.get(k).getAsDouble(), 1e-9, "bbox of " + i);
      assertEquals(expected[i][6], o.get("score").getAsDouble(), "score of " + i);
    }

    // index.html: offline (images inline), both images drawn with true and predicted boxes
    String html = Files.readString(out.resolve("index.html"), StandardCharsets.UTF_8);
    assertEquals(2, html.split("data:image/png;base64,", -1).length - 1);
    assertTrue(
        html.contains("class=\"gt\"")
            && html.contains("class=\"tp\"")
            && html.contains("class=\"fp\""));
    assertFalse(html.matches("(?s).*(src|href)=\"https?:.*"), "nothing fetched from the network");
    // image 1: F1 at .5 = 2·1/(2·1 + 1 + 1) = .5; image 2: 2·2/(2·2 + 1) = .8 -> image 1 first
    assertTrue(
        html.contains("All 2 images, worst first")
            && html.indexOf("<b>a.png") < html.indexOf("<b>b.png"),
        html);

    // the terminal table ends with the overall row
    List<String> lines = r.out().lines().toList();
    String all = lines.stream().filter(l -> l.startsWith("all ")).findFirst().orElse("");
    assertTrue(
        all.contains(String.format("%.3f", (76.0 / 101 + 0.1) / 3)) && all.contains("25.0%"),
        r.out());
  }

  @Test
  void aStoppedRunResumesWithTheRestAndScoringItsPredictionsFileGivesTheSameNumbers()
      throws Exception {
    Path out = tmp.resolve("resumed");
    int q0 = lm.questions.get();
    var first = eval(out, "--limit", "1");
    assertEquals(0, first.code(), first.err());
    assertEquals(2, lm.questions.get() - q0); // image 1's two categories
    long lines = Files.readAllLines(out.resolve("answers.jsonl")).size();
    assertEquals(3, lines); // settings + two answers
    // a run killed mid-write leaves half a line: it is dropped, not an error
    Files.writeString(
        out.resolve("answers.jsonl"),
        "{\"image_id\": 2, \"categ",
        java.nio.file.StandardOpenOption.APPEND);

    int q1 = lm.questions.get();
    var second = eval(out);
    assertEquals(0, second.code(), second.err());
    assertEquals(2, lm.questions.get() - q1); // only image 2's questions
    assertTrue(
        second.err().contains("resuming: 2 of 6 answers saved by an earlier run"), second.err());
    JsonObject live = metrics(out);
    assertEquals((76.0 / 101 + 0.1 + 0) / 3, d(live, "AP"), TOL);

    // the run's own predictions, scored as a results file over the same images, give the same
    // numbers (the score
    // ties break the same way)
    Path rescored = tmp.resolve("rescored");
    var s =
        VlmRun.of(
            "eval",
            "grounding",
            "--annotations",
            annotations.toString(),
            "--predictions",
            out.resolve("predictions.json").toString(),
            "--limit",
            "2",
            "--out",
            rescored.toString());
    assertEquals(0, s.code(), s.err());
    JsonObject m = metrics(rescored);
    for (String k : List.of("AP", "AP50", "AP75", "mean_iou", "precision50", "recall50")) {
      assertEquals(d(live, k), d(m, k), k);
    }
    assertTrue(m.get("parse_failures").isJsonNull()); // nothing was asked
    assertTrue(Files.exists(rescored.resolve("index.html")));
    // over all four images, the two the run could not show the model count as missed: 3 of 6 found
    var all =
        VlmRun.of(
            "eval",
            "grounding",
            "--annotations",
            annotations.toString(),
            "--predictions",
            out.resolve("predictions.json").toString(),
            "--out",
            tmp.resolve("rescored-all").toString());
    assertEquals(0, all.code(), all.err());
    assertEquals(3.0 / 6, d(metrics(tmp.resolve("rescored-all")), "recall50"));

    // other settings in the same folder are refused rather than mixed
    var other = eval(out, "--prompt-template", "找出{label}");
    assertEquals(2, other.code());
    assertTrue(
        other.err().startsWith("vlm: error: ")
            && other.err().contains("prompt_template")
            && other.err().contains("--restart"),
        other.err());
    assertEquals(1, other.err().strip().lines().count(), other.err());
  }

  @Test
  void withoutServerTheEmbeddedServerOfModelIsAsked() throws Exception {
    Path model = Files.createDirectories(tmp.resolve("model"));
    java.util.concurrent.atomic.AtomicReference<Path> opened =
        new java.util.concurrent.atomic.AtomicReference<>();
    // the embedded hook (vlm sets it to AllInOne::openEmbedded) here reaches the scripted server
    // started above
    ChatCommand.setEmbeddedGateway(
        m -> {
          opened.set(m);
          return io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forTarget(address)
              .usePlaintext()
              .build();
        });
    try {
      Path out = tmp.resolve("embedded");
      var r =
          VlmRun.of(
              "eval",
              "grounding",
              "--model",
              model.toString(),
              "--annotations",
              annotations.toString(),
              "--images",
              images.toString(),
              "--out",
              out.toString(),
              "--min-new-tokens",
              "0",
              "--no-repeat-ngram-size",
              "0");
      assertEquals(0, r.code(), r.err());
      assertEquals(model.toRealPath(), opened.get().toRealPath());
      JsonObject m = metrics(out);
      assertEquals((76.0 / 101 + 0.1 + 0) / 3, d(m, "AP"), TOL);
      assertEquals(model.toString(), m.getAsJsonObject("settings").get("target").getAsString());
    } finally {
      ChatCommand.setEmbeddedGateway(null);
    }
  }

  @Test
  void badInputIsOneErrorLineWithExitCode2() throws Exception {
    Path out = tmp.resolve("x");
    Files.writeString(tmp.resolve("notjson.json"), "{\"images\": [");
    Files.writeString(tmp.resolve("nococo.json"), "{\"pictures\": []}");
    String[][] cases = {
      {
        "--annotations",
        tmp.resolve("notjson.json").toString(),
        "--images",
        images.toString(),
        "not valid JSON"
      },
      {
        "--annotations",
        tmp.resolve("nococo.json").toString(),
        "--images",
        images.toString(),
        "no \"images\" array"
      },
      {
        "--annotations",
        tmp.resolve("nope.json").toString(),
        "--images",
        images.toString(),
        "no such file"
      },
      {
        "--annotations",
        annotations.toString(),
        "--images",
        tmp.resolve("nodir").toString(),
        "not a folder"
      },
      {
        "--annotations",
        annotations.toString(),
        "--images",
        images.toString(),
        "--concurrency",
        "0",
        "--concurrency must be"
      },
      {
        "--annotations",
        annotations.toString(),
        "--images",
        images.toString(),
        "--prompt-template",
        "find it",
        "must contain {label}"
      },
      {
        "--annotations",
        annotations.toString(),
        "--images",
        images.toString(),
        "--limit",
        "-1",
        "--limit must be"
      },
      {
        "--annotations",
        annotations.toString(),
        "--predictions",
        annotations.toString(),
        "expected a COCO results array"
      },
      {
        "--annotations",
        annotations.toString(),
        "--images",
        images.toString(),
        "--server",
        "127.0.0.1:1",
        "--timeout",
        "5",
        "UNAVAILABLE"
      },
    };
    for (String[] c : cases) {
      List<String> a = new ArrayList<>(List.of("eval", "grounding", "--out", out.toString()));
      a.addAll(List.of(c).subList(0, c.length - 1));
      var r = VlmRun.of(a.toArray(String[]::new));
      assertEquals(2, r.code(), String.join(" ", c) + "\n" + r.err());
      List<String> errs = r.err().lines().filter(l -> l.startsWith("vlm: error:")).toList();
      assertEquals(1, errs.size(), r.err());
      assertTrue(errs.get(0).contains(c[c.length - 1]), errs.get(0));
    }
  }
}
