package tandem.gateway.boxes;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the text between {@code <box>} and {@code </box>} into boxes. The schema the model emits is
 * not documented (neither the chat template nor the processor defines one), and
 * no_repeat_ngram_size=2 garbles repeated JSON keys (HF's {@code NoRepeatNGramLogitsProcessor} bans
 * the repeat), so the parser accepts every reasonable shape: {@code {"label": l, "bbox":
 * [x1,y1,x2,y2]}}, a list of those, {@code {"l": [..]}}, bare {@code [x1,y1,x2,y2]} lists (several
 * boxes as a flat or nested list), {@code x1/y1/x2/y2} keys, and as a last resort any text with
 * four numbers in it. Coordinates are clamped to 0–1000. It never throws; a span with no box in it
 * comes back as one unparsed entry.
 */
public final class BoxParser {
  private BoxParser() {}

  private static final Set<String> LABEL_KEYS =
      Set.of(
          "label",
          "name",
          "class",
          "category",
          "object",
          "text",
          "cls",
          "type",
          "标签",
          "类别",
          "名称",
          "物体");
  private static final Set<String> BOX_KEYS =
      Set.of(
          "bbox",
          "bbox_2d",
          "box",
          "boxes",
          "bboxes",
          "box_2d",
          "coordinates",
          "coords",
          "position",
          "xyxy",
          "location",
          "坐标",
          "位置");
  // not the digits of a key or label such as bbox_2d, x1 or cat2 (a Chinese label may run into a
  // number: only ASCII letters, digits, '_' and '.' before it rule it out)
  private static final Pattern NUMBER =
      Pattern.compile("(?<![A-Za-z0-9_.])-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?");
  private static final Pattern WORD = Pattern.compile("[\\p{L}][\\p{L}\\p{N}_ \\-]*");

  /**
   * Parses one span's text; {@code complete} is false when the output ended before {@code </box>}.
   */
  public static List<BoxSpan> parse(String raw, boolean complete) {
    List<BoxSpan> out = new ArrayList<>();
    try {
      collect(LenientJson.parse(raw), "", raw, complete, out);
      if (out.isEmpty()) fallback(raw, complete, out);
    } catch (RuntimeException e) {
      // Defensive: model output must never break a stream.
      out.clear();
    }
    if (out.isEmpty()) out.add(BoxSpan.unparsed(raw, complete));
    return out;
  }

  private static void collect(
      Object v, String label, String raw, boolean complete, List<BoxSpan> out) {
    if (v instanceof Map<?, ?> m) {
      String own = label;
      for (var e : m.entrySet()) {
        if (LABEL_KEYS.contains(key(e.getKey()))
            && e.getValue() instanceof String s
            && !s.isBlank()) {
          own = s.strip();
          break;
        }
      }
      int before = out.size();
      for (var e : m.entrySet()) {
        if (BOX_KEYS.contains(key(e.getKey()))) collect(e.getValue(), own, raw, complete, out);
      }
      if (out.size() == before) {
        Double x1 = num(m, "x1", "xmin", "left"), y1 = num(m, "y1", "ymin", "top");
        Double x2 = num(m, "x2", "xmax", "right"), y2 = num(m, "y2", "ymax", "bottom");
        if (x1 != null && y1 != null && x2 != null && y2 != null) {
          out.add(box(own, new double[] {x1, y1, x2, y2}, raw, complete));
        }
      }
      if (out.size() == before) {
        // {"apple": [..]} or nested values: a non-reserved key names what is inside it.
        for (var e : m.entrySet()) {
          String k = key(e.getKey());
          if (LABEL_KEYS.contains(k) || BOX_KEYS.contains(k)) continue;
          boolean keyIsLabel = !k.isEmpty() && !isCoordinateKey(k);
          collect(
              e.getValue(),
              keyIsLabel && own.isEmpty() ? String.valueOf(e.getKey()).strip() : own,
              raw,
              complete,
              out);
        }
      }
    } else if (v instanceof List<?> list) {
      List<Double> nums = new ArrayList<>();
      for (Object o : list) if (o instanceof Double d) nums.add(d);
      if (nums.size() == list.size() && nums.size() >= 4) {
        for (int k = 0; k + 4 <= nums.size(); k += 4) {
          out.add(
              box(
                  label,
                  new double[] {nums.get(k), nums.get(k + 1), nums.get(k + 2), nums.get(k + 3)},
                  raw,
                  complete));
        }
        return;
      }
      String pending = label;
      for (Object o : list) {
        if (o instanceof String s && !s.isBlank()) {
          pending = s.strip(); // ["apple", [..]]: a string labels what follows it
        } else {
          collect(o, pending, raw, complete, out);
        }
      }
    }
  }

  private static boolean isCoordinateKey(String k) {
    return Set.of("x1", "y1", "x2", "y2", "x", "y", "w", "h", "xmin", "ymin", "xmax", "ymax")
        .contains(k);
  }

  private static String key(Object k) {
    return String.valueOf(k).strip().toLowerCase(Locale.ROOT);
  }

  private static Double num(Map<?, ?> m, String... keys) {
    for (var e : m.entrySet()) {
      for (String k : keys)
        if (key(e.getKey()).equals(k) && e.getValue() instanceof Double d) return d;
    }
    return null;
  }

  /**
   * Last resort: four numbers anywhere in the text; the first word that is not a schema key is the
   * label.
   */
  private static void fallback(String raw, boolean complete, List<BoxSpan> out) {
    List<Double> nums = new ArrayList<>();
    Matcher m = NUMBER.matcher(raw);
    while (m.find()) nums.add(Double.parseDouble(m.group()));
    if (nums.size() < 4) return;
    String label = "";
    Matcher w = WORD.matcher(raw);
    while (w.find()) {
      String word = w.group().strip();
      String k = word.toLowerCase(Locale.ROOT);
      if (!LABEL_KEYS.contains(k) && !BOX_KEYS.contains(k) && !isCoordinateKey(k)) {
        label = word;
        break;
      }
    }
    for (int k = 0; k + 4 <= nums.size(); k += 4) {
      out.add(
          box(
              label,
              new double[] {nums.get(k), nums.get(k + 1), nums.get(k + 2), nums.get(k + 3)},
              raw,
              complete));
    }
  }

  private static BoxSpan box(String label, double[] c, String raw, boolean complete) {
    for (double d : c) if (!Double.isFinite(d)) return BoxSpan.unparsed(raw, complete);
    double[] n = new double[4];
    for (int k = 0; k < 4; k++) n[k] = Math.max(0, Math.min(1000, c[k]));
    if (n[0] > n[2]) swap(n, 0, 2);
    if (n[1] > n[3]) swap(n, 1, 3);
    return new BoxSpan(label, n, true, complete, raw);
  }

  private static void swap(double[] a, int i, int j) {
    double t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
