package tandem.cli.eval;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * The model's answer to one grounding question (one image, one category): its readable boxes in the
 * order they were streamed, as pixels [x1, y1, x2, y2] of the original image, the number of {@code
 * <box>} spans that could not be read, the text and the finish reason.
 */
public record Answer(
    long imageId,
    long categoryId,
    List<double[]> boxes,
    int unparsed,
    String text,
    String finishReason) {

  public boolean parseFailure() {
    return unparsed > 0;
  }

  /**
   * Confidence of the box at {@code rank} (0 = first in the answer): the model gives no scores, so
   * the order is the only signal; 1 / (rank + 1) keeps that order inside an answer and makes every
   * answer's first box tie with every other's (ties are broken by image id, as pycocotools does).
   */
  public static double rankScore(int rank) {
    return 1.0 / (rank + 1);
  }

  JsonObject toJson() {
    JsonObject o = new JsonObject();
    o.addProperty("image_id", imageId);
    o.addProperty("category_id", categoryId);
    JsonArray bs = new JsonArray();
    for (double[] b : boxes) {
      JsonArray a = new JsonArray();
      for (double v : b) a.add(v);
      bs.add(a);
    }
    o.add("boxes", bs);
    o.addProperty("unparsed", unparsed);
    o.addProperty("finish_reason", finishReason);
    o.addProperty("text", text);
    return o;
  }

  static Answer fromJson(JsonObject o) {
    List<double[]> boxes = new ArrayList<>();
    for (JsonElement e : o.getAsJsonArray("boxes")) {
      JsonArray a = e.getAsJsonArray();
      if (a.size() != 4) throw new IllegalArgumentException("a box has " + a.size() + " numbers");
      boxes.add(
          new double[] {
            a.get(0).getAsDouble(),
            a.get(1).getAsDouble(),
            a.get(2).getAsDouble(),
            a.get(3).getAsDouble()
          });
    }
    return new Answer(
        o.get("image_id").getAsLong(),
        o.get("category_id").getAsLong(),
        boxes,
        o.get("unparsed").getAsInt(),
        o.get("text").getAsString(),
        o.get("finish_reason").getAsString());
  }
}
