package tandem.cli.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tandem.cli.eval.CocoDataset.Annotation;
import tandem.cli.eval.CocoDataset.Image;
import tandem.cli.eval.CocoEval.Detection;
import tandem.vision.preprocess.ImageDecoder;

/**
 * {@code report/index.html}: one file that opens offline. The images the model did worst and best
 * on (F1 of the matches at IoU 0.5, ties broken by their mean IoU) are embedded as data URIs, with
 * the true boxes (green; crowd boxes dashed) and the predicted ones (red when unmatched, blue when
 * matched, numbered by rank) drawn over them in SVG. Images whose file is not at hand are drawn as
 * a grey canvas of their annotated size.
 */
public final class HtmlReport {
  private HtmlReport() {}

  /** Gives an image's bytes, or null when it is not available. */
  public interface Images {
    byte[] bytes(Image image);
  }

  /** Per image at IoU 0.5, over all its categories. */
  record ImageScore(Image image, int tp, int fp, int fn, double iouSum) {
    double f1() {
      int d = 2 * tp + fp + fn;
      return d == 0 ? 1 : 2.0 * tp / d;
    }

    double meanIou() {
      return tp == 0 ? 0 : iouSum / tp;
    }
  }

  static final long MAX_EMBED_BYTES = 16L << 20;

  public static void write(
      Path file,
      String title,
      GroundingMetrics overall,
      CocoDataset data,
      CocoEval.Result r,
      Map<Long, String> names,
      Images images,
      int perSide)
      throws IOException {
    Map<Long, Image> byId = new LinkedHashMap<>();
    for (Image i : data.images()) byId.put(i.id(), i);
    Map<Long, int[]> counts = new LinkedHashMap<>();
    Map<Long, double[]> iouSums = new LinkedHashMap<>();
    Map<Long, List<CocoEval.ImageCategory>> perImage = new LinkedHashMap<>();
    for (long img : r.imageIds()) perImage.put(img, new ArrayList<>());
    for (long k : r.categoryIds()) {
      for (CocoEval.ImageCategory e : r.evalImgs().get(k)) {
        perImage.get(e.imageId).add(e);
        int[] c = counts.computeIfAbsent(e.imageId, x -> new int[3]);
        double[] s = iouSums.computeIfAbsent(e.imageId, x -> new double[1]);
        for (int d = 0; d < e.dts.size(); d++) {
          if (e.truePositive(0, d)) {
            c[0]++;
            s[0] += e.matchIou(0, d);
          } else if (e.falsePositive(0, d)) {
            c[1]++;
          }
        }
        for (int g = 0; g < e.gts.size(); g++) if (e.missed(0, g)) c[2]++;
      }
    }
    List<ImageScore> scores = new ArrayList<>();
    for (var en : counts.entrySet()) {
      int[] c = en.getValue();
      if (c[0] + c[1] + c[2] == 0) continue; // only crowd boxes: nothing to judge
      scores.add(
          new ImageScore(byId.get(en.getKey()), c[0], c[1], c[2], iouSums.get(en.getKey())[0]));
    }
    Comparator<ImageScore> worstFirst =
        Comparator.comparingDouble(ImageScore::f1)
            .thenComparingDouble(ImageScore::meanIou)
            .thenComparingLong(s -> s.image().id());
    scores.sort(worstFirst);

    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
        .append(esc(title))
        .append("</title>\n<style>\n")
        .append(
            "body{font:14px"
                + " system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:17px;margin-top:28px}")
        .append(
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px"
                + " 8px;text-align:right}")
        .append(
            "td:first-child,th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:16px}")
        .append(
            ".card{width:360px;border:1px solid #ddd;padding:8px}.card"
                + " svg{width:100%;height:auto;background:#888}")
        .append(".gt{fill:none;stroke:#1a9e3a;stroke-width:3}.crowd{stroke-dasharray:6 4}")
        .append(
            ".tp{fill:none;stroke:#1f5fd6;stroke-width:2}.fp{fill:none;stroke:#e0261d;stroke-width:2}")
        .append(
            ".lbl{font-family:sans-serif;font-weight:bold;paint-order:stroke;stroke:#fff}"
                + ".small{color:#666;font-size:12px}")
        .append("\n</style></head><body>\n");
    h.append("<h1>").append(esc(title)).append("</h1>\n");
    h.append(
        "<p class=\"small\">Green: true boxes (dashed: crowd). Blue: predictions matched at IoU"
            + " 0.5. Red: predictions not matched. Numbers are the rank in the answer (a box's"
            + " confidence is 1/rank, the model gives none).</p>\n");
    h.append(metricsTable(overall, r, data, names));
    if (scores.size() <= 2 * perSide) {
      h.append("<h2>All ").append(scores.size()).append(" images, worst first</h2>\n");
      cards(h, scores, perImage, names, images);
    } else {
      h.append("<h2>Worst ")
          .append(perSide)
          .append(perSide == 1 ? " image" : " images")
          .append("</h2>\n");
      cards(h, scores.subList(0, perSide), perImage, names, images);
      List<ImageScore> best =
          new ArrayList<>(scores.subList(scores.size() - perSide, scores.size()));
      java.util.Collections.reverse(best);
      h.append("<h2>Best ")
          .append(perSide)
          .append(perSide == 1 ? " image" : " images")
          .append("</h2>\n");
      cards(h, best, perImage, names, images);
    }
    h.append("</body></html>\n");
    Files.writeString(file, h.toString(), StandardCharsets.UTF_8);
  }

  private static String metricsTable(
      GroundingMetrics overall, CocoEval.Result r, CocoDataset data, Map<Long, String> names) {
    StringBuilder t =
        new StringBuilder(
            "<table><tr><th>category</th><th>true</th><th>predicted</th><th>AP</th><th>AP50</th><th>AP75</th><th>mean"
                + " IoU</th><th>precision@.5</th><th>recall@.5</th></tr>\n");
    for (long k : r.categoryIds()) {
      GroundingMetrics m = GroundingMetrics.category(r, k, null);
      if (m.trueBoxes() == 0 && m.predictedBoxes() == 0) continue;
      row(t, names.get(k), m);
    }
    row(t, "all", overall);
    return t.append("</table>\n").toString();
  }

  private static void row(StringBuilder t, String name, GroundingMetrics m) {
    t.append("<tr><td>")
        .append(esc(name))
        .append("</td><td>")
        .append(m.trueBoxes())
        .append("</td><td>")
        .append(m.predictedBoxes())
        .append("</td>");
    for (Double d :
        new Double[] {m.ap(), m.ap50(), m.ap75(), m.meanIou(), m.precision50(), m.recall50()}) {
      t.append("<td>")
          .append(d == null ? "–" : String.format(Locale.ROOT, "%.3f", d))
          .append("</td>");
    }
    t.append("</tr>\n");
  }

  private static void cards(
      StringBuilder h,
      List<ImageScore> list,
      Map<Long, List<CocoEval.ImageCategory>> perImage,
      Map<Long, String> names,
      Images images) {
    h.append("<div class=\"grid\">\n");
    for (ImageScore s : list) card(h, s, perImage.get(s.image().id()), names, images);
    h.append("</div>\n");
  }

  private static void card(
      StringBuilder h,
      ImageScore s,
      List<CocoEval.ImageCategory> evals,
      Map<Long, String> names,
      Images images) {
    Image img = s.image();
    byte[] bytes = images == null ? null : images.bytes(img);
    int w = img.width(), hh = img.height();
    String mime = null;
    if (bytes != null) {
      try {
        ImageDecoder.Header hd = ImageDecoder.withDefaults().probe(bytes);
        w = hd.width();
        hh = hd.height();
        mime = "image/" + hd.format().name().toLowerCase(Locale.ROOT);
      } catch (Exception e) {
        bytes = null;
      }
    }
    if (w <= 0 || hh <= 0) { // no size anywhere: fit the boxes
      double mx = 1, my = 1;
      for (CocoEval.ImageCategory e : evals) {
        for (Annotation a : e.gts) {
          mx = Math.max(mx, a.bbox()[0] + a.bbox()[2]);
          my = Math.max(my, a.bbox()[1] + a.bbox()[3]);
        }
        for (Detection d : e.dts) {
          mx = Math.max(mx, d.bbox()[0] + d.bbox()[2]);
          my = Math.max(my, d.bbox()[1] + d.bbox()[3]);
        }
      }
      w = (int) Math.ceil(mx);
      hh = (int) Math.ceil(my);
    }
    h.append("<div class=\"card\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ")
        .append(w)
        .append(' ')
        .append(hh)
        .append("\">");
    if (bytes != null && bytes.length <= MAX_EMBED_BYTES) {
      h.append("<image x=\"0\" y=\"0\" width=\"")
          .append(w)
          .append("\" height=\"")
          .append(hh)
          .append("\" href=\"data:")
          .append(mime)
          .append(";base64,")
          .append(Base64.getEncoder().encodeToString(bytes))
          .append("\"/>");
    }
    // SVG user units are image pixels: size the labels to the image so they read the same on every
    // card
    double font = Math.max(1, Math.min(w, hh) / 18.0);
    String style =
        String.format(
            Locale.ROOT, " style=\"font-size:%.2fpx;stroke-width:%.2fpx\"", font, font / 6);
    for (CocoEval.ImageCategory e : evals) {
      String cat = names.get(e.categoryId);
      for (Annotation a : e.gts) {
        h.append(rect(a.bbox(), a.iscrowd() ? "gt crowd" : "gt", "true " + cat));
      }
      for (int d = 0; d < e.dts.size(); d++) {
        Detection det = e.dts.get(d);
        String cls = e.truePositive(0, d) ? "tp" : "fp";
        String tip =
            String.format(
                Locale.ROOT,
                "%s #%d%s",
                cat,
                d + 1,
                e.truePositive(0, d)
                    ? String.format(Locale.ROOT, " IoU %.2f", e.matchIou(0, d))
                    : " unmatched");
        h.append(rect(det.bbox(), cls, tip));
        h.append(
            String.format(
                Locale.ROOT,
                "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\"%s>%s</text>",
                det.bbox()[0] + 2,
                det.bbox()[1] + font,
                cls.equals("tp") ? "#1f5fd6" : "#e0261d",
                style,
                esc(cat + " " + (d + 1))));
      }
    }
    h.append("</svg>\n<div><b>")
        .append(esc(img.fileName()))
        .append("</b> <span class=\"small\">id ")
        .append(img.id())
        .append("</span></div>\n");
    h.append(
        String.format(
            Locale.ROOT,
            "<div class=\"small\">F1@.5 %.2f · matched %d · unmatched predictions %d · missed %d ·"
                + " mean IoU %.2f</div>",
            s.f1(),
            s.tp(),
            s.fp(),
            s.fn(),
            s.meanIou()));
    h.append("</div>\n");
  }

  private static String rect(double[] b, String cls, String title) {
    return String.format(
        Locale.ROOT,
        "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\""
            + " vector-effect=\"non-scaling-stroke\"><title>%s</title></rect>",
        cls,
        b[0],
        b[1],
        b[2],
        b[3],
        esc(title));
  }

  static String esc(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> sb.append("&lt;");
        case '>' -> sb.append("&gt;");
        case '&' -> sb.append("&amp;");
        case '"' -> sb.append("&quot;");
        default -> sb.append(c);
      }
    }
    return sb.toString();
  }
}
