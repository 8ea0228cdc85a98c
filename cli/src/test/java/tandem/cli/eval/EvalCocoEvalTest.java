package tandem.cli.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.cli.eval.CocoDataset.Annotation;
import tandem.cli.eval.CocoEval.Detection;

/**
 * COCOeval's arithmetic on cases small enough to work out by hand; each expected value is derived
 * in the comment above it. pycocotools divides by (tp + fp + np.spacing(1)), so a "precision of 1"
 * is 1 / (1 + 2^-52): values are compared to 1e-12 here (the synthetic set in EvalCocoReferenceTest
 * is compared bit for bit).
 */
class EvalCocoEvalTest {
  static final double TOL = 1e-12;

  private final List<Annotation> gts = new ArrayList<>();
  private final List<Detection> dts = new ArrayList<>();

  void gt(long id, long image, long cat, double x, double y, double w, double h) {
    gts.add(new Annotation(id, image, cat, new double[] {x, y, w, h}, w * h, false));
  }

  void crowd(long id, long image, long cat, double x, double y, double w, double h) {
    gts.add(new Annotation(id, image, cat, new double[] {x, y, w, h}, w * h, true));
  }

  void dt(long image, long cat, double x, double y, double w, double h, double score) {
    dts.add(new Detection(dts.size() + 1, image, cat, new double[] {x, y, w, h}, score));
  }

  CocoEval.Result eval(List<Long> images, List<Long> cats) {
    return CocoEval.evaluate(gts, dts, images, cats);
  }

  @Test
  void thresholdsAreTheSameDoublesAsNumpysLinspace() {
    // np.linspace(.5, 0.95, 10) printed with float.hex() (numpy 1.24 and 2.4 agree)
    String[] hex = {
      "0x1.0p-1",
      "0x1.199999999999ap-1",
      "0x1.3333333333333p-1",
      "0x1.4cccccccccccdp-1",
      "0x1.6666666666666p-1",
      "0x1.8p-1",
      "0x1.999999999999ap-1",
      "0x1.b333333333333p-1",
      "0x1.cccccccccccccp-1",
      "0x1.e666666666666p-1"
    };
    for (int i = 0; i < hex.length; i++)
      assertEquals(hex[i], Double.toHexString(CocoEval.IOU_THRESHOLDS[i]), "t" + i);
    assertEquals(0.8999999999999999, CocoEval.IOU_THRESHOLDS[8]);
    assertEquals(0.75, CocoEval.IOU_THRESHOLDS[CocoEval.T75]);
    assertEquals(101, CocoEval.RECALL_THRESHOLDS.length);
    assertEquals(0.03, CocoEval.RECALL_THRESHOLDS[3]);
    assertEquals(1.0, CocoEval.RECALL_THRESHOLDS[100]);
  }

  @Test
  void iouOfBoxesIsIntersectionOverUnionAndOverTheDetectionForACrowd() {
    // [0,0,100,50] inside [0,0,100,100]: 5000 / 10000
    assertEquals(
        0.5, CocoEval.iou(new double[] {0, 0, 100, 100}, new double[] {0, 0, 100, 50}, false));
    // [0,0,10,10] vs [5,5,10,10]: 25 / (100 + 100 - 25) = 1/7
    assertEquals(
        25.0 / 175, CocoEval.iou(new double[] {0, 0, 10, 10}, new double[] {5, 5, 10, 10}, false));
    // touching edges do not overlap
    assertEquals(
        0.0, CocoEval.iou(new double[] {0, 0, 10, 10}, new double[] {10, 0, 10, 10}, false));
    // crowd: 25 over the detection's own 100
    assertEquals(
        0.25, CocoEval.iou(new double[] {0, 0, 10, 10}, new double[] {5, 5, 10, 10}, true));
  }

  @Test
  void noPredictionsGiveZeroApAndNoTruthGivesNoAp() {
    gt(1, 1, 1, 0, 0, 10, 10); // category 1: a true box, nothing predicted
    dt(1, 2, 0, 0, 10, 10, 1); // category 2: a prediction, no true box
    CocoEval.Result r = eval(List.of(1L), List.of(1L, 2L, 3L));
    // category 1: nd = 0, so searchsorted hits index 0 of an empty list at once: every precision
    // stays 0
    assertEquals(0.0, r.ap(1, -1));
    // category 2 has no counted true box and category 3 nothing at all: no AP, left out of the mean
    assertNull(r.ap(2, -1));
    assertNull(r.ap(3, -1));
    assertEquals(0.0, r.ap(-1));
    GroundingMetrics m1 = GroundingMetrics.category(r, 1, null);
    assertEquals(0.0, m1.recall50());
    assertNull(m1.precision50()); // nothing predicted
    assertNull(m1.meanIou());
    GroundingMetrics m2 = GroundingMetrics.category(r, 2, null);
    assertEquals(0.0, m2.precision50()); // one false positive
    assertNull(m2.recall50());
    // nothing at all anywhere: every AP is null, as pycocotools prints -1
    gts.clear();
    dts.clear();
    CocoEval.Result empty = eval(List.of(1L), List.of(1L));
    assertNull(empty.ap(-1));
    assertNull(GroundingMetrics.overall(empty, null).recall50());
  }

  @Test
  void aDuplicateIsAFalsePositiveButDoesNotLowerTheInterpolatedPrecision() {
    gt(1, 1, 1, 0, 0, 10, 10);
    dt(1, 1, 0, 0, 10, 10, 0.9);
    dt(1, 1, 0, 0, 10, 10, 0.9); // the same box again
    CocoEval.Result r = eval(List.of(1L), List.of(1L));
    // order T, F: recall [1, 1], precision [1/(1+eps), 1/(2+eps)] -> made monotone from the right:
    // [1, 1/2];
    // every recall point r <= 1 finds index 0: AP = 1 at every threshold (IoU is exactly 1)
    assertEquals(1.0, r.ap(-1), TOL);
    GroundingMetrics m = GroundingMetrics.overall(r, null);
    assertEquals(0.5, m.precision50()); // 1 of 2
    assertEquals(1.0, m.recall50());
    assertEquals(1.0, m.meanIou());
    assertEquals(1, m.matched50());
    assertEquals(1, m.unmatched50());
  }

  @Test
  void aLowerRankedDuplicateThatHitsAfterAMissShowsInterpolation() {
    // two images, one true box each; predictions A (score 1) and B (score 0.5) in each image
    gt(1, 1, 1, 20, 10, 80, 40); // image 1 truth = A scaled to 200x100
    gt(2, 2, 1, 40, 20, 80, 40); // image 2 truth = B scaled to 400x200
    dt(1, 1, 20, 10, 80, 40, 1.0); // A on image 1: IoU 1
    dt(
        1, 1, 20, 10, 40, 20,
        0.5); // B on image 1: IoU 800/3200 = 0.25, and the truth is taken anyway
    dt(2, 1, 40, 20, 160, 80, 1.0); // A on image 2: IoU 3200/12800 = 0.25
    dt(2, 1, 40, 20, 80, 40, 0.5); // B on image 2: IoU 1
    CocoEval.Result r = eval(List.of(1L, 2L), List.of(1L));
    // by score, ties in image order: A1 T, A2 F, B1 F, B2 T. recall .5 .5 .5 1, precision 1 .5 1/3
    // .5
    // -> monotone from the right: 1 .5 .5 .5. Recall points 0.00..0.50 (51) read 1, 0.51..1.00 (50)
    // read .5:
    // AP = (51 + 25) / 101 = 76/101 at every threshold, since both hits have IoU 1
    assertEquals(76.0 / 101, r.ap(-1), TOL);
    assertEquals(76.0 / 101, r.ap(0), TOL);
    assertEquals(76.0 / 101, r.ap(CocoEval.T75), TOL);
    GroundingMetrics m = GroundingMetrics.overall(r, null);
    assertEquals(0.5, m.precision50());
    assertEquals(1.0, m.recall50());
  }

  @Test
  void aBoxAtExactlyIou05MatchesAt05AndAtNoHigherThreshold() {
    gt(1, 1, 1, 0, 0, 100, 50);
    dt(1, 1, 0, 0, 100, 100, 1); // IoU exactly 0.5: the test is "IoU >= threshold"
    CocoEval.Result r = eval(List.of(1L), List.of(1L));
    assertEquals(1.0, r.ap(0), TOL); // matched at 0.50
    assertEquals(0.0, r.ap(1)); // not at 0.55
    assertEquals(0.0, r.ap(CocoEval.T75));
    assertEquals(0.1, r.ap(-1), TOL); // one of ten thresholds
    assertEquals(0.5, GroundingMetrics.overall(r, null).meanIou());
  }

  @Test
  void severalCategoriesAverageOverThoseWithTruthOnly() {
    // category 1: the 76/101 case above
    gt(1, 1, 1, 20, 10, 80, 40);
    gt(2, 2, 1, 40, 20, 80, 40);
    dt(1, 1, 20, 10, 80, 40, 1.0);
    dt(1, 1, 20, 10, 40, 20, 0.5);
    dt(2, 1, 40, 20, 160, 80, 1.0);
    dt(2, 1, 40, 20, 80, 40, 0.5);
    // category 2: exactly IoU 0.5 -> AP50 1, AP75 0, AP 0.1
    gt(3, 2, 2, 0, 0, 100, 50);
    dt(2, 2, 0, 0, 100, 100, 1.0);
    // category 3: a true box, no prediction -> 0
    gt(4, 1, 3, 0, 0, 10, 10);
    // category 4: only a prediction -> no AP, not averaged
    dt(1, 4, 0, 0, 5, 5, 1.0);
    CocoEval.Result r = eval(List.of(1L, 2L), List.of(1L, 2L, 3L, 4L));
    assertEquals(76.0 / 101, r.ap(1, -1), TOL);
    assertEquals(0.1, r.ap(2, -1), TOL);
    assertEquals(0.0, r.ap(3, -1));
    assertNull(r.ap(4, -1));
    assertEquals((76.0 / 101 + 0.1 + 0) / 3, r.ap(-1), TOL);
    assertEquals((76.0 / 101 + 1 + 0) / 3, r.ap(0), TOL);
    assertEquals((76.0 / 101 + 0 + 0) / 3, r.ap(CocoEval.T75), TOL);
    GroundingMetrics m = GroundingMetrics.overall(r, null);
    // pooled at 0.5: hits A1, B2, the 0.5 box = 3; misses A2, B1, the category-4 box = 3; truths 4
    assertEquals(3, m.matched50());
    assertEquals(3, m.unmatched50());
    assertEquals(0.5, m.precision50());
    assertEquals(0.75, m.recall50());
    assertEquals(2.5 / 3, m.meanIou(), TOL); // IoUs 1, 1, 0.5
  }

  @Test
  void scoreTiesAcrossImagesAreBrokenByImageIdNotInputOrder() {
    gt(1, 1, 1, 0, 0, 10, 10);
    gt(2, 2, 1, 0, 0, 10, 10);
    dt(2, 1, 0, 0, 10, 10, 1.0); // a hit on image 2, listed first
    dt(1, 1, 50, 50, 10, 10, 1.0); // a miss on image 1, same score
    CocoEval.Result r = eval(List.of(1L, 2L), List.of(1L));
    // image order: F then T. recall [0, .5], precision [0, 1/(2+eps)] -> [.5, .5]. Recall point 0
    // reads index 0,
    // points up to .5 read index 1, the rest run past the end and stay 0: AP = 51 * .5 / 101
    assertEquals(25.5 / 101, r.ap(0), TOL);
    // with the hit on the lower image id the order is T, F: precision [1, .5] -> points up to .5
    // read 1
    dts.clear();
    dt(1, 1, 0, 0, 10, 10, 1.0);
    dt(2, 1, 50, 50, 10, 10, 1.0);
    assertEquals(51.0 / 101, eval(List.of(1L, 2L), List.of(1L)).ap(0), TOL);
  }

  @Test
  void aCrowdBoxAbsorbsPredictionsWithoutCountingThem() {
    crowd(1, 1, 1, 0, 0, 100, 100);
    gt(2, 1, 1, 200, 200, 10, 10);
    dt(1, 1, 10, 10, 20, 20, 0.9); // inside the crowd: IoU over its own area = 1, ignored
    dt(1, 1, 200, 200, 10, 10, 0.8); // the real box
    dt(
        1, 1, 12, 12, 5, 5,
        0.7); // a second one in the crowd: crowds match any number of predictions
    CocoEval.Result r = eval(List.of(1L), List.of(1L));
    assertEquals(1.0, r.ap(-1), TOL);
    GroundingMetrics m = GroundingMetrics.overall(r, null);
    assertEquals(1, m.trueBoxes()); // the crowd does not count
    assertEquals(1.0, m.precision50());
    // a category with crowd truth only has no AP
    gts.clear();
    dts.clear();
    crowd(1, 1, 1, 0, 0, 100, 100);
    dt(1, 1, 10, 10, 20, 20, 0.9);
    assertNull(eval(List.of(1L), List.of(1L)).ap(-1));
  }

  @Test
  void onlyTheHundredBestPredictionsPerImageAndCategoryCount() {
    gt(1, 1, 1, 0, 0, 10, 10);
    for (int k = 0; k < 100; k++) dt(1, 1, 500, 500, 10, 10, 1.0 - k / 1000.0); // 100 misses
    dt(1, 1, 0, 0, 10, 10, 0.5); // the hit comes 101st
    assertEquals(0.0, eval(List.of(1L), List.of(1L)).ap(0));
    dts.remove(
        99); // now it is the 100th: recall 1 reached at rank 100 -> every point reads 1/100 (with
    // eps)
    assertEquals(1.0 / 100, eval(List.of(1L), List.of(1L)).ap(0), TOL);
  }

  @Test
  void aTrueBoxWithIdZeroNeverCountsAsFoundAsInPycocotools() {
    gt(0, 1, 1, 0, 0, 10, 10);
    dt(1, 1, 0, 0, 10, 10, 1.0);
    CocoEval.Result r = eval(List.of(1L), List.of(1L));
    // the match is stored as the true box's id, 0, which reads as "unmatched": a false positive and
    // a miss
    assertEquals(0.0, r.ap(0));
  }

  @Test
  void meanIsNumpysPairwiseSumNotALeftFold() {
    // 0.1 summed ten times left to right is 0.9999999999999999; numpy's eight accumulators give 1.0
    List<Double> tenths = new ArrayList<>();
    for (int i = 0; i < 10; i++) tenths.add(0.1);
    double fold = 0;
    for (double d : tenths) fold += d;
    assertEquals(0.9999999999999999, fold);
    assertEquals(
        0.1, CocoEval.mean(tenths)); // ((.1+.1)+(.1+.1))+((.1+.1)+(.1+.1)) + .1 + .1 = 1.0, / 10
    // and thirteen of them: numpy's np.sum gives 1.3000000000000003 where the fold gives 1.3
    double[] thirteen = new double[13];
    java.util.Arrays.fill(thirteen, 0.1);
    assertEquals(1.3000000000000003, CocoEval.pairwiseSum(thirteen, 0, 13));
  }
}
