package tandem.cli.eval;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A COCO detection annotation file (Objects365 uses the same layout): {@code images}, {@code
 * categories} and {@code annotations} with {@code bbox} [x, y, w, h] in pixels. A file that is not
 * such a JSON object at all is refused with {@link BadInput}; single bad entries (a bbox that is
 * not four numbers, an unknown image or category, a repeated id) are reported as one line each
 * through {@code warn}, counted and left out.
 */
public record CocoDataset(
    List<Image> images,
    List<Category> categories,
    List<Annotation> annotations,
    int skippedEntries) {

  /** One image; width and height are 0 when the file does not give them. */
  public record Image(long id, String fileName, int width, int height) {}

  public record Category(long id, String name) {}

  /**
   * One true box. {@code area} is the file's {@code area} (pycocotools compares it with the area
   * range), or w·h when the file has none; {@code iscrowd} boxes never count as misses and absorb
   * detections without counting them.
   */
  public record Annotation(
      long id, long imageId, long categoryId, double[] bbox, double area, boolean iscrowd) {}

  /** The file cannot be used at all: one line for {@code vlm: error:}. */
  public static final class BadInput extends RuntimeException {
    public BadInput(String message) {
      super(message);
    }
  }

  public static CocoDataset load(Path file, Consumer<String> warn) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new BadInput("annotations " + file + ": cannot read it (" + e.getMessage() + ")");
    }
    JsonElement root;
    try {
      root = JsonParser.parseString(text);
    } catch (JsonParseException e) {
      throw new BadInput("annotations " + file + ": not valid JSON (" + rootCause(e) + ")");
    }
    return parse(root, file.toString(), warn);
  }

  static CocoDataset parse(JsonElement root, String source, Consumer<String> warn) {
    if (!root.isJsonObject()) {
      throw new BadInput(
          "annotations "
              + source
              + ": expected a COCO object {\"images\", \"categories\", \"annotations\"}");
    }
    JsonObject o = root.getAsJsonObject();
    JsonArray imgs = array(o, "images", source);
    JsonArray cats = array(o, "categories", source);
    JsonArray anns = array(o, "annotations", source);
    int skipped = 0;

    Map<Long, Image> images = new LinkedHashMap<>();
    for (int i = 0; i < imgs.size(); i++) {
      String where = "annotations " + source + ": images[" + i + "]";
      try {
        JsonObject m = object(imgs.get(i));
        long id = id(m, "id");
        String name = string(m, "file_name");
        int w = m.has("width") && !m.get("width").isJsonNull() ? nonNegativeInt(m, "width") : 0;
        int h = m.has("height") && !m.get("height").isJsonNull() ? nonNegativeInt(m, "height") : 0;
        if (images.containsKey(id))
          throw new IllegalArgumentException("image id " + id + " appears twice");
        images.put(id, new Image(id, name, w, h));
      } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
        warn.accept(where + ": " + e.getMessage() + "; skipped");
        skipped++;
      }
    }
    Map<Long, Category> categories = new LinkedHashMap<>();
    for (int i = 0; i < cats.size(); i++) {
      String where = "annotations " + source + ": categories[" + i + "]";
      try {
        JsonObject m = object(cats.get(i));
        long id = id(m, "id");
        String name =
            m.has("name") && m.get("name").isJsonPrimitive()
                ? m.get("name").getAsString().strip()
                : "";
        if (name.isEmpty()) throw new IllegalArgumentException("category " + id + " has no name");
        if (categories.containsKey(id))
          throw new IllegalArgumentException("category id " + id + " appears twice");
        categories.put(id, new Category(id, name));
      } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
        warn.accept(where + ": " + e.getMessage() + "; skipped");
        skipped++;
      }
    }
    List<Annotation> annotations = new ArrayList<>();
    Set<Long> annIds = new HashSet<>();
    for (int i = 0; i < anns.size(); i++) {
      String where = "annotations " + source + ": annotations[" + i + "]";
      try {
        JsonObject m = object(anns.get(i));
        long id = id(m, "id");
        long imageId = id(m, "image_id");
        long categoryId = id(m, "category_id");
        if (!images.containsKey(imageId))
          throw new IllegalArgumentException("image_id " + imageId + " is not in images");
        if (!categories.containsKey(categoryId)) {
          throw new IllegalArgumentException("category_id " + categoryId + " is not in categories");
        }
        double[] bbox = bbox(m.get("bbox"));
        double area = bbox[2] * bbox[3];
        if (m.has("area") && !m.get("area").isJsonNull()) area = finite(m.get("area"), "area");
        boolean crowd =
            m.has("iscrowd") && !m.get("iscrowd").isJsonNull() && flag(m.get("iscrowd"));
        // pycocotools indexes annotations by id: a repeated id would stand in for the other one
        // there
        if (!annIds.add(id))
          throw new IllegalArgumentException("annotation id " + id + " appears twice");
        annotations.add(new Annotation(id, imageId, categoryId, bbox, area, crowd));
      } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
        warn.accept(where + ": " + e.getMessage() + "; skipped");
        skipped++;
      }
    }
    return new CocoDataset(
        List.copyOf(images.values()),
        List.copyOf(categories.values()),
        Collections.unmodifiableList(annotations),
        skipped);
  }

  /** [x, y, w, h]: four finite numbers, w and h not negative. */
  static double[] bbox(JsonElement e) {
    if (e == null || !e.isJsonArray() || e.getAsJsonArray().size() != 4) {
      throw new IllegalArgumentException(
          "bbox must be 4 numbers [x, y, w, h], got " + (e == null ? "nothing" : e));
    }
    double[] b = new double[4];
    for (int k = 0; k < 4; k++) b[k] = finite(e.getAsJsonArray().get(k), "bbox");
    if (b[2] < 0 || b[3] < 0)
      throw new IllegalArgumentException("bbox width and height must be >= 0, got " + e);
    return b;
  }

  private static double finite(JsonElement e, String what) {
    if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
      throw new IllegalArgumentException(what + " must be a number, got " + e);
    }
    double d = e.getAsDouble();
    if (!Double.isFinite(d)) throw new IllegalArgumentException(what + " must be finite, got " + e);
    return d;
  }

  private static boolean flag(JsonElement e) {
    if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean()) return e.getAsBoolean();
    double d = finite(e, "iscrowd");
    if (d != 0 && d != 1) throw new IllegalArgumentException("iscrowd must be 0 or 1, got " + e);
    return d == 1;
  }

  private static JsonArray array(JsonObject o, String key, String source) {
    JsonElement e = o.get(key);
    if (e == null || !e.isJsonArray()) {
      throw new BadInput(
          "annotations "
              + source
              + ": no \""
              + key
              + "\" array (a COCO detection file has images,"
              + " categories and annotations)");
    }
    return e.getAsJsonArray();
  }

  private static JsonObject object(JsonElement e) {
    if (!e.isJsonObject()) throw new IllegalArgumentException("expected an object, got " + e);
    return e.getAsJsonObject();
  }

  static long id(JsonObject m, String key) {
    JsonElement e = m.get(key);
    if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
      throw new IllegalArgumentException(
          key + " must be an integer, got " + (e == null ? "nothing" : e));
    }
    double d = e.getAsDouble();
    if (d != Math.rint(d) || Math.abs(d) > 9.007199254740992E15) {
      throw new IllegalArgumentException(key + " must be an integer, got " + e);
    }
    return (long) d;
  }

  private static int nonNegativeInt(JsonObject m, String key) {
    long v = id(m, key);
    if (v < 0 || v > Integer.MAX_VALUE)
      throw new IllegalArgumentException(key + " must be >= 0, got " + v);
    return (int) v;
  }

  private static String string(JsonObject m, String key) {
    JsonElement e = m.get(key);
    if (e == null
        || !e.isJsonPrimitive()
        || !e.getAsJsonPrimitive().isString()
        || e.getAsString().isBlank()) {
      throw new IllegalArgumentException(
          key + " must be a non-empty string, got " + (e == null ? "nothing" : e));
    }
    return e.getAsString();
  }

  private static String rootCause(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) t = t.getCause();
    return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
  }

  /** Category by id. */
  public Map<Long, Category> categoryById() {
    Map<Long, Category> m = new LinkedHashMap<>();
    for (Category c : categories) m.put(c.id(), c);
    return m;
  }

  /**
   * A unique display name per category: its name, or "name (id N)" when two categories share a name
   * (the keys of {@code per_category} in metrics.json).
   */
  public Map<Long, String> categoryNames() {
    Map<String, Integer> count = new java.util.HashMap<>();
    for (Category c : categories) count.merge(c.name(), 1, Integer::sum);
    Map<Long, String> out = new LinkedHashMap<>();
    for (Category c : categories)
      out.put(c.id(), count.get(c.name()) > 1 ? c.name() + " (id " + c.id() + ")" : c.name());
    return out;
  }
}
