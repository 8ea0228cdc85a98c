package tandem.cli.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link GroundingRun} with a fake model: concurrency, per-image failures, a fatal failure and the
 * resume after it.
 */
class EvalGroundingRunTest {
  @TempDir Path tmp;
  CocoDataset data;
  StringWriter err = new StringWriter();
  Progress progress = new Progress(new PrintWriter(err), false);

  @BeforeEach
  void dataset() throws Exception {
    StringBuilder images = new StringBuilder(), anns = new StringBuilder();
    for (int i = 1; i <= 4; i++) {
      ImageIO.write(
          new BufferedImage(20, 10, BufferedImage.TYPE_INT_RGB),
          "png",
          tmp.resolve(i + ".png").toFile());
      images
          .append(i > 1 ? "," : "")
          .append("{\"id\":")
          .append(i)
          .append(",\"file_name\":\"")
          .append(i)
          .append(".png\"}");
      anns.append(i > 1 ? "," : "")
          .append("{\"id\":")
          .append(i)
          .append(",\"image_id\":")
          .append(i)
          .append(",\"category_id\":1,\"bbox\":[0,0,10,5]}");
    }
    Files.writeString(
        tmp.resolve("a.json"),
        "{\"images\":["
            + images
            + "],\"categories\":[{\"id\":1,\"name\":\"box\"}],"
            + "\"annotations\":["
            + anns
            + "]}");
    data =
        CocoDataset.load(
            tmp.resolve("a.json"),
            w -> {
              throw new AssertionError(w);
            });
  }

  Journal journal() throws Exception {
    JsonObject s = new JsonObject();
    s.addProperty("prompt_template", "{label}");
    return Journal.open(tmp.resolve("out"), s, false);
  }

  static Answer hit(long image, long cat) {
    return new Answer(
        image, cat, List.of(new double[] {0, 0, 10, 5}), 0, "<box>[0,0,500,500]</box>", "stop");
  }

  @Test
  void questionsRunConcurrently() throws Exception {
    CyclicBarrier both =
        new CyclicBarrier(2); // only passes when two questions are in flight at once
    GroundingRun.Asker asker =
        (img, cat, bytes, prompt) -> {
          try {
            both.await(20, TimeUnit.SECONDS);
          } catch (Exception e) {
            throw new GroundingRun.AskFailure("never two at once: " + e, true);
          }
          return hit(img, cat);
        };
    try (Journal j = journal()) {
      GroundingRun.Outcome o =
          GroundingRun.run(
              data, new GroundingRun.Settings(tmp, "find {label}", 0, 2), asker, j, progress);
      assertEquals(List.of(1L, 2L, 3L, 4L), o.scoredImages());
      assertEquals(4, o.asked());
    }
  }

  @Test
  void aRefusedQuestionSkipsItsImageWithOneLineAndTheRunGoesOn() throws Exception {
    List<String> prompts = new ArrayList<>();
    GroundingRun.Asker asker =
        (img, cat, bytes, prompt) -> {
          synchronized (prompts) {
            prompts.add(prompt);
          }
          if (img == 2)
            throw new GroundingRun.AskFailure("INVALID_ARGUMENT: image too large", false);
          return hit(img, cat);
        };
    try (Journal j = journal()) {
      GroundingRun.Outcome o =
          GroundingRun.run(
              data, new GroundingRun.Settings(tmp, "find {label}", 0, 1), asker, j, progress);
      assertEquals(List.of(1L, 3L, 4L), o.scoredImages());
      assertEquals(List.of(2L), o.skippedImages());
      assertEquals(1, o.failed());
    }
    assertEquals(List.of("find box", "find box", "find box", "find box"), prompts);
    List<String> lines = err.toString().lines().filter(l -> l.startsWith("vlm: warning:")).toList();
    assertEquals(
        List.of(
            "vlm: warning: image 2 (2.png), category box: INVALID_ARGUMENT: image too large; image"
                + " skipped"),
        lines);
  }

  @Test
  void aFatalFailureStopsTheRunAndTheNextRunAsksOnlyWhatIsLeft() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    GroundingRun.Asker dying =
        (img, cat, bytes, prompt) -> {
          calls.incrementAndGet();
          if (img >= 3) throw new GroundingRun.AskFailure("UNAVAILABLE: the gateway is gone", true);
          return hit(img, cat);
        };
    try (Journal j = journal()) {
      GroundingRun.AskFailure f =
          assertThrows(
              GroundingRun.AskFailure.class,
              () ->
                  GroundingRun.run(
                      data, new GroundingRun.Settings(tmp, "{label}", 0, 1), dying, j, progress));
      assertTrue(f.getMessage().contains("UNAVAILABLE"));
    }
    assertEquals(3, calls.get()); // images 1 and 2 answered, 3 failed, 4 never asked
    List<Long> asked = new ArrayList<>();
    GroundingRun.Asker fine =
        (img, cat, bytes, prompt) -> {
          synchronized (asked) {
            asked.add(img);
          }
          return hit(img, cat);
        };
    try (Journal j = journal()) {
      assertEquals(2, j.saved().size());
      GroundingRun.Outcome o =
          GroundingRun.run(
              data, new GroundingRun.Settings(tmp, "{label}", 0, 1), fine, j, progress);
      assertEquals(List.of(3L, 4L), asked);
      assertEquals(2, o.resumed());
      assertEquals(List.of(1L, 2L, 3L, 4L), o.scoredImages());
      // every answer is in the detections, ranked: one box each, score 1
      List<CocoEval.Detection> d = GroundingRun.detections(data, o.scoredImages(), o.answers());
      assertEquals(4, d.size());
      assertEquals(List.of(1L, 2L, 3L, 4L), d.stream().map(CocoEval.Detection::imageId).toList());
      assertEquals(1.0, d.get(3).score());
    }
  }

  @Test
  void rankScoresAreOneOverRank() {
    assertEquals(1.0, Answer.rankScore(0));
    assertEquals(0.5, Answer.rankScore(1));
    assertEquals(1.0 / 3, Answer.rankScore(2));
  }

  @Test
  void theProgressLineCountsAnswersSkipsAndTime() {
    Progress p = new Progress(new PrintWriter(new StringWriter()), false);
    p.start(10, 2);
    p.answered();
    p.skipped(3);
    String line = p.line();
    assertTrue(
        line.startsWith("[##############..........] 3/10 answers, 3 skipped, "),
        line); // 6 of 10 handled: 14.4 of 24
    assertTrue(line.matches(".* s/answer, ETA \\d+ s"), line);
    assertEquals("1m05s", Progress.duration(65));
    assertEquals("2h03m", Progress.duration(7380));
  }
}
