package tandem.cli.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * COCO sets scored here and by pycocotools 2.0.11's COCOeval (expected.json, written by
 * tools/coco-reference/reference.py): every number must be the same double. "synthetic" is the
 * generated set (crowds, duplicates, ties, &gt; 100 detections, an id 0, an out-of-range area,
 * categories without truth); "e2e" is what EvalGroundingEndToEndTest's scripted decoder answers, so
 * its hand-worked numbers are pycocotools' too.
 */
public class EvalCocoReferenceTest {
  public static Path dir(String set) throws Exception {
    return Path.of(EvalCocoReferenceTest.class.getResource("/eval/" + set + "/gt.json").toURI())
        .getParent();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"synthetic, 299, 5", "e2e, 5, 3"})
  void apAndTheMatchCountsEqualPycocotoolsBitForBit(String set, int detections, int categories)
      throws Exception {
    Path dir = dir(set);
    List<String> warnings = new ArrayList<>();
    CocoDataset gt = CocoDataset.load(dir.resolve("gt.json"), warnings::add);
    assertEquals(List.of(), warnings);
    List<Long> imgs = gt.images().stream().map(CocoDataset.Image::id).toList();
    List<Long> cats = gt.categories().stream().map(CocoDataset.Category::id).toList();
    PredictionsFile.Loaded dt =
        PredictionsFile.read(
            dir.resolve("results.json"), new HashSet<>(imgs), new HashSet<>(cats), warnings::add);
    assertEquals(0, dt.skipped());
    assertEquals(detections, dt.detections().size());
    CocoEval.Result r = CocoEval.evaluate(gt.annotations(), dt.detections(), imgs, cats);
    JsonObject ref =
        JsonParser.parseString(Files.readString(dir.resolve("expected.json"))).getAsJsonObject();

    check("overall", ref, GroundingMetrics.overall(r, null));
    Map<Long, String> names = gt.categoryNames();
    JsonObject per = ref.getAsJsonObject("per_category");
    assertEquals(categories, per.size());
    for (long k : cats)
      check(names.get(k), per.getAsJsonObject(names.get(k)), GroundingMetrics.category(r, k, null));
    // the reference is not trivial
    assertTrue(ref.get("AP").getAsDouble() > 0.05 && ref.get("AP").getAsDouble() < 0.95);
    if (set.equals("synthetic")) assertTrue(per.getAsJsonObject("狗").get("AP").isJsonNull());
  }

  /**
   * Compares one metrics object (metrics.json's or {@link GroundingMetrics#toJson}) with a
   * reference one.
   */
  public static void check(String what, JsonObject ref, JsonObject m) {
    for (String k : List.of("AP", "AP50", "AP75", "precision50", "recall50", "mean_iou")) {
      assertEquals(num(ref, k), num(m, k), what + " " + k);
    }
  }

  private static void check(String what, JsonObject ref, GroundingMetrics m) {
    assertEquals(num(ref, "AP"), m.ap(), what + " AP");
    assertEquals(num(ref, "AP50"), m.ap50(), what + " AP50");
    assertEquals(num(ref, "AP75"), m.ap75(), what + " AP75");
    assertEquals(num(ref, "precision50"), m.precision50(), what + " precision50");
    assertEquals(num(ref, "recall50"), m.recall50(), what + " recall50");
    assertEquals(num(ref, "mean_iou"), m.meanIou(), what + " mean_iou");
    assertEquals(ref.get("tp50").getAsInt(), m.matched50(), what + " tp50");
    assertEquals(ref.get("fp50").getAsInt(), m.unmatched50(), what + " fp50");
    assertEquals(ref.get("true_boxes").getAsInt(), m.trueBoxes(), what + " true boxes");
  }

  private static Double num(JsonObject o, String k) {
    JsonElement e = o.get(k);
    return e == null || e.isJsonNull() ? null : e.getAsDouble();
  }
}
