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
import org.junit.jupiter.api.Test;

/**
 * The synthetic COCO set of tools/coco-reference (crowds, duplicates, ties, &gt; 100 detections, an id 0, an
 * out-of-range area, categories without truth) scored here and by pycocotools 2.0.11's COCOeval
 * (expected.json, written by tools/coco-reference/reference.py): every number must be the same double.
 */
class EvalCocoReferenceTest {
  static Path dir() throws Exception {
    return Path.of(EvalCocoReferenceTest.class.getResource("/eval/synthetic/gt.json").toURI()).getParent();
  }

  @Test
  void apAndTheMatchCountsEqualPycocotoolsBitForBit() throws Exception {
    List<String> warnings = new ArrayList<>();
    CocoDataset gt = CocoDataset.load(dir().resolve("gt.json"), warnings::add);
    assertEquals(List.of(), warnings);
    List<Long> imgs = gt.images().stream().map(CocoDataset.Image::id).toList();
    List<Long> cats = gt.categories().stream().map(CocoDataset.Category::id).toList();
    PredictionsFile.Loaded dt = PredictionsFile.read(dir().resolve("results.json"), new HashSet<>(imgs),
        new HashSet<>(cats), warnings::add);
    assertEquals(0, dt.skipped());
    assertEquals(299, dt.detections().size());
    CocoEval.Result r = CocoEval.evaluate(gt.annotations(), dt.detections(), imgs, cats);
    JsonObject ref = JsonParser.parseString(Files.readString(dir().resolve("expected.json"))).getAsJsonObject();

    check("overall", ref, GroundingMetrics.overall(r, null));
    Map<Long, String> names = gt.categoryNames();
    JsonObject per = ref.getAsJsonObject("per_category");
    assertEquals(5, per.size());
    for (long k : cats) check(names.get(k), per.getAsJsonObject(names.get(k)), GroundingMetrics.category(r, k, null));
    // the reference is not trivial: three categories score, two have no AP
    assertTrue(ref.get("AP").getAsDouble() > 0.05 && ref.get("AP").getAsDouble() < 0.95);
    assertTrue(per.getAsJsonObject("狗").get("AP").isJsonNull());
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
