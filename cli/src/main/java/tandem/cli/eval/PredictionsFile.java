package tandem.cli.eval;

import com.google.gson.GsonBuilder;
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
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import tandem.cli.eval.CocoDataset.BadInput;
import tandem.cli.eval.CocoEval.Detection;

/**
 * COCO results files: {@code [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]}, the
 * format COCOeval's {@code loadRes} reads and every run writes as {@code predictions.json}. A
 * detection's id is its 1-based position in the file, as loadRes numbers them.
 */
public final class PredictionsFile {
  private PredictionsFile() {}

  /** What was read, and how many entries were left out (each reported as one line). */
  public record Loaded(List<Detection> detections, int skipped) {}

  /**
   * Reads a results file. Entries that are not a detection, and detections of an image that the
   * annotations do not have (pycocotools refuses the whole file for those), are reported and left
   * out; detections of a category the annotations do not list are kept, and COCOeval ignores them
   * as pycocotools does (one line says how many).
   */
  public static Loaded read(
      Path file, Set<Long> imageIds, Set<Long> categoryIds, Consumer<String> warn) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new BadInput("predictions " + file + ": cannot read it (" + e.getMessage() + ")");
    }
    JsonElement root;
    try {
      root = JsonParser.parseString(text);
    } catch (JsonParseException e) {
      throw new BadInput("predictions " + file + ": not valid JSON (" + e.getMessage() + ")");
    }
    if (root == null || !root.isJsonArray()) {
      throw new BadInput(
          "predictions "
              + file
              + ": expected a COCO results array [{\"image_id\", \"category_id\","
              + " \"bbox\", \"score\"}]");
    }
    JsonArray a = root.getAsJsonArray();
    List<Detection> out = new ArrayList<>();
    int skipped = 0, otherCategory = 0;
    for (int i = 0; i < a.size(); i++) {
      try {
        if (!a.get(i).isJsonObject())
          throw new IllegalArgumentException("expected an object, got " + a.get(i));
        JsonObject o = a.get(i).getAsJsonObject();
        long image = CocoDataset.id(o, "image_id");
        long cat = CocoDataset.id(o, "category_id");
        double[] bbox = CocoDataset.bbox(o.get("bbox"));
        JsonElement s = o.get("score");
        if (s == null
            || !s.isJsonPrimitive()
            || !s.getAsJsonPrimitive().isNumber()
            || !Double.isFinite(s.getAsDouble())) {
          throw new IllegalArgumentException(
              "score must be a finite number, got " + (s == null ? "nothing" : s));
        }
        if (!imageIds.contains(image))
          throw new IllegalArgumentException("image_id " + image + " is not in the annotations");
        if (!categoryIds.contains(cat)) otherCategory++;
        out.add(new Detection(i + 1, image, cat, bbox, s.getAsDouble()));
      } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
        warn.accept("predictions " + file + ": [" + i + "]: " + e.getMessage() + "; skipped");
        skipped++;
      }
    }
    if (otherCategory > 0) {
      warn.accept(
          "predictions "
              + file
              + ": "
              + otherCategory
              + " detection(s) of categories the annotations do not"
              + " list are not scored (as in pycocotools)");
    }
    return new Loaded(out, skipped);
  }

  public static void write(Path file, List<Detection> detections) throws IOException {
    JsonArray a = new JsonArray();
    for (Detection d : detections) {
      JsonObject o = new JsonObject();
      o.addProperty("image_id", d.imageId());
      o.addProperty("category_id", d.categoryId());
      JsonArray b = new JsonArray();
      for (double v : d.bbox()) b.add(v);
      o.add("bbox", b);
      o.addProperty("score", d.score());
      a.add(o);
    }
    Files.writeString(
        file,
        new GsonBuilder().disableHtmlEscaping().create().toJson(a) + "\n",
        StandardCharsets.UTF_8);
  }
}
