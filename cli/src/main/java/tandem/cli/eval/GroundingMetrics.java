package tandem.cli.eval;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The numbers of {@code report/metrics.json}, overall or for one category. AP, AP50 and AP75 are
 * COCOeval's (see {@link CocoEval}); the rest read COCOeval's own matching at IoU 0.5: {@code
 * precision50} = matched / counted predictions, {@code recall50} = matched / counted true boxes,
 * {@code mean_iou} = mean IoU of those matches (crowd and out-of-range boxes are not counted, as in
 * AP). Overall, these three pool every box of every category; AP is the mean over categories that
 * have a true box. {@code parse_failures} is the share of answers in which at least one {@code
 * <box>} span could not be read. A value that has nothing to average (no true box, no prediction,
 * no answer asked) is null.
 */
public record GroundingMetrics(
    Double ap,
    Double ap50,
    Double ap75,
    Double meanIou,
    Double precision50,
    Double recall50,
    Double parseFailures,
    int matched50,
    int unmatched50,
    int trueBoxes,
    int predictedBoxes,
    int answers) {

  /** Answers asked and how many of them had an unreadable box; null in scoring-only mode. */
  public record AnswerCounts(int answers, int parseFailures) {}

  public static GroundingMetrics overall(CocoEval.Result r, AnswerCounts answers) {
    return of(r, Set.copyOf(r.categoryIds()), r.ap(-1), r.ap(0), r.ap(CocoEval.T75), answers);
  }

  public static GroundingMetrics category(
      CocoEval.Result r, long categoryId, AnswerCounts answers) {
    return of(
        r,
        Set.of(categoryId),
        r.ap(categoryId, -1),
        r.ap(categoryId, 0),
        r.ap(categoryId, CocoEval.T75),
        answers);
  }

  private static GroundingMetrics of(
      CocoEval.Result r,
      Set<Long> cats,
      Double ap,
      Double ap50,
      Double ap75,
      AnswerCounts answers) {
    int tp = 0, fp = 0, npig = 0, predicted = 0;
    List<Double> ious = new ArrayList<>();
    for (long k : r.categoryIds()) {
      if (!cats.contains(k)) continue;
      for (CocoEval.ImageCategory e : r.evalImgs().get(k)) {
        npig += e.countedTruths();
        predicted += e.dts.size();
        for (int d = 0; d < e.dts.size(); d++) {
          if (e.truePositive(0, d)) {
            tp++;
            ious.add(e.matchIou(0, d));
          } else if (e.falsePositive(0, d)) {
            fp++;
          }
        }
      }
    }
    Double precision = tp + fp == 0 ? null : (double) tp / (tp + fp);
    Double recall = npig == 0 ? null : (double) tp / npig;
    Double parse =
        answers == null || answers.answers() == 0
            ? null
            : (double) answers.parseFailures() / answers.answers();
    return new GroundingMetrics(
        ap,
        ap50,
        ap75,
        CocoEval.mean(ious),
        precision,
        recall,
        parse,
        tp,
        fp,
        npig,
        predicted,
        answers == null ? 0 : answers.answers());
  }

  /** The metrics.json object: the seven keys first, then the counts behind them. */
  public JsonObject toJson() {
    JsonObject o = new JsonObject();
    o.add("AP", num(ap));
    o.add("AP50", num(ap50));
    o.add("AP75", num(ap75));
    o.add("mean_iou", num(meanIou));
    o.add("precision50", num(precision50));
    o.add("recall50", num(recall50));
    o.add("parse_failures", num(parseFailures));
    o.addProperty("true_boxes", trueBoxes);
    o.addProperty("predicted_boxes", predictedBoxes);
    o.addProperty("matched50", matched50);
    o.addProperty("unmatched50", unmatched50);
    o.addProperty("answers", answers);
    return o;
  }

  static JsonElement num(Double d) {
    return d == null ? JsonNull.INSTANCE : new JsonPrimitive(d);
  }

  /** Per category by unique name, in category-id order. */
  public static JsonObject perCategoryJson(
      CocoEval.Result r, Map<Long, String> names, Map<Long, AnswerCounts> answers) {
    JsonObject o = new JsonObject();
    for (long k : r.categoryIds()) {
      o.add(names.get(k), category(r, k, answers == null ? null : answers.get(k)).toJson());
    }
    return o;
  }
}
