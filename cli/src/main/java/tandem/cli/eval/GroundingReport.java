package tandem.cli.eval;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Scores detections and writes the report folder: {@code metrics.json}, {@code predictions.json},
 * {@code index.html}; prints the terminal table. The same for a model run and for {@code
 * --predictions}.
 */
public final class GroundingReport {
  private GroundingReport() {}

  /**
   * What is scored, and the counts of what was left out (for metrics.json and the summary line).
   */
  public record Input(
      CocoDataset data,
      List<Long> scoredImages,
      List<CocoEval.Detection> detections,
      Map<Long, GroundingMetrics.AnswerCounts> answers,
      JsonObject skipped,
      JsonObject settings) {}

  public record Scored(CocoEval.Result result, GroundingMetrics overall, JsonObject metrics) {}

  public static Scored score(Input in) {
    List<Long> cats = in.data().categories().stream().map(CocoDataset.Category::id).toList();
    CocoEval.Result r =
        CocoEval.evaluate(in.data().annotations(), in.detections(), in.scoredImages(), cats);
    GroundingMetrics.AnswerCounts total = null;
    if (in.answers() != null) {
      int n = 0, f = 0;
      for (GroundingMetrics.AnswerCounts c : in.answers().values()) {
        n += c.answers();
        f += c.parseFailures();
      }
      total = new GroundingMetrics.AnswerCounts(n, f);
    }
    GroundingMetrics overall = GroundingMetrics.overall(r, total);
    JsonObject m = overall.toJson();
    JsonObject per = new JsonObject();
    Map<Long, String> names = in.data().categoryNames();
    for (long k : r.categoryIds()) {
      GroundingMetrics c =
          GroundingMetrics.category(r, k, in.answers() == null ? null : in.answers().get(k));
      if (c.trueBoxes() == 0 && c.predictedBoxes() == 0 && c.answers() == 0)
        continue; // not in these images
      per.add(names.get(k), c.toJson());
    }
    m.add("per_category", per);
    m.addProperty("images", in.scoredImages().size());
    m.add("skipped", in.skipped());
    m.add("settings", in.settings());
    return new Scored(r, overall, m);
  }

  public static void write(Path dir, Input in, Scored s, HtmlReport.Images images, int perSide)
      throws IOException {
    Files.createDirectories(dir);
    Files.writeString(
        dir.resolve("metrics.json"),
        new GsonBuilder()
                .setPrettyPrinting()
                .disableHtmlEscaping()
                .serializeNulls()
                .create()
                .toJson(s.metrics())
            + "\n",
        StandardCharsets.UTF_8);
    PredictionsFile.write(dir.resolve("predictions.json"), in.detections());
    HtmlReport.write(
        dir.resolve("index.html"),
        "vlm eval grounding: " + in.scoredImages().size() + " images",
        s.overall(),
        in.data(),
        s.result(),
        in.data().categoryNames(),
        images,
        perSide);
  }

  /** The table: one row per category that has boxes, then "all". */
  public static void printTable(PrintWriter o, Input in, Scored s) {
    List<String[]> rows = new ArrayList<>();
    rows.add(
        new String[] {
          "category", "true", "pred", "AP", "AP50", "AP75", "mIoU", "P@.5", "R@.5", "unparsed"
        });
    Map<Long, String> names = in.data().categoryNames();
    for (long k : s.result().categoryIds()) {
      GroundingMetrics c =
          GroundingMetrics.category(
              s.result(), k, in.answers() == null ? null : in.answers().get(k));
      if (c.trueBoxes() == 0 && c.predictedBoxes() == 0 && c.answers() == 0) continue;
      rows.add(row(names.get(k), c));
    }
    rows.add(row("all", s.overall()));
    int[] width = new int[rows.get(0).length];
    for (String[] r : rows)
      for (int i = 0; i < r.length; i++) width[i] = Math.max(width[i], displayWidth(r[i]));
    for (int j = 0; j < rows.size(); j++) {
      String[] r = rows.get(j);
      if (j == rows.size() - 1)
        o.println("-".repeat(java.util.Arrays.stream(width).sum() + 2 * (width.length - 1)));
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < r.length; i++) {
        String pad = " ".repeat(width[i] - displayWidth(r[i]));
        if (i > 0) sb.append("  ");
        sb.append(i == 0 ? r[i] + pad : pad + r[i]);
      }
      o.println(sb.toString().stripTrailing());
    }
    o.flush();
  }

  private static String[] row(String name, GroundingMetrics m) {
    return new String[] {
      name,
      Integer.toString(m.trueBoxes()),
      Integer.toString(m.predictedBoxes()),
      f(m.ap()),
      f(m.ap50()),
      f(m.ap75()),
      f(m.meanIou()),
      f(m.precision50()),
      f(m.recall50()),
      m.parseFailures() == null
          ? "-"
          : String.format(Locale.ROOT, "%.1f%%", 100 * m.parseFailures())
    };
  }

  private static String f(Double d) {
    return d == null ? "-" : String.format(Locale.ROOT, "%.3f", d);
  }

  /** Columns a terminal gives the text: CJK and other wide characters take two. */
  static int displayWidth(String s) {
    int w = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      boolean wide =
          (cp >= 0x1100 && cp <= 0x115F)
              || (cp >= 0x2E80 && cp <= 0xA4CF)
              || (cp >= 0xAC00 && cp <= 0xD7A3)
              || (cp >= 0xF900 && cp <= 0xFAFF)
              || (cp >= 0xFE30 && cp <= 0xFE4F)
              || (cp >= 0xFF00 && cp <= 0xFF60)
              || (cp >= 0xFFE0 && cp <= 0xFFE6)
              || (cp >= 0x1F300 && cp <= 0x1FAFF)
              || (cp >= 0x20000 && cp <= 0x3FFFD);
      w += wide ? 2 : 1;
    }
    return w;
  }
}
