package tandem.cli.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Reading COCO annotations: a bad entry is one line, counted and left out; the rest is kept. */
class EvalCocoDatasetTest {
  static final String GOOD_IMAGE =
      "{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, \"height\": 10}";
  static final String GOOD_CAT = "{\"id\": 1, \"name\": \"苹果\"}";
  static final String GOOD_ANN =
      "{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}";

  static CocoDataset parse(String images, String cats, String anns, List<String> warnings) {
    String json =
        "{\"images\": ["
            + images
            + "], \"categories\": ["
            + cats
            + "], \"annotations\": ["
            + anns
            + "]}";
    return CocoDataset.parse(JsonParser.parseString(json), "t.json", warnings::add);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "a bbox of three numbers | {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1,"
            + " 2, 3]} | bbox must be 4 numbers",
        "a negative width | {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, -3,"
            + " 4]} | width and height must be >= 0",
        "an unknown image | {\"id\": 2, \"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 2, 3,"
            + " 4]} | image_id 7 is not in images",
        "an unknown category | {\"id\": 2, \"image_id\": 1, \"category_id\": 9, \"bbox\": [1, 2, 3,"
            + " 4]} | category_id 9 is not in categories",
        "a repeated id | {\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]} |"
            + " annotation id 1 appears twice",
        "a text id | {\"id\": \"x\", \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]} |"
            + " id must be an integer",
        "iscrowd 2 | {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4],"
            + " \"iscrowd\": 2} | iscrowd must be 0 or 1",
        "not an object | 17 | expected an object",
      })
  void aBadAnnotationIsOneLineAndTheGoodOneStays(String what, String bad, String message) {
    List<String> w = new ArrayList<>();
    CocoDataset d = parse(GOOD_IMAGE, GOOD_CAT, GOOD_ANN + "," + bad, w);
    assertEquals(1, w.size(), w.toString());
    assertTrue(
        w.get(0).startsWith("annotations t.json: annotations[1]: ")
            && w.get(0).contains(message)
            && w.get(0).endsWith("; skipped"),
        w.get(0));
    assertEquals(1, d.annotations().size());
    assertEquals(1, d.skippedEntries());
  }

  @Test
  void badImagesAndCategoriesAreSkippedTooAndAreaDefaultsToWidthTimesHeight() {
    List<String> w = new ArrayList<>();
    CocoDataset d =
        parse(GOOD_IMAGE + ",{\"id\": 2}," + GOOD_IMAGE, GOOD_CAT + ",{\"id\": 2}", GOOD_ANN, w);
    assertEquals(3, w.size(), w.toString());
    assertTrue(w.get(0).contains("images[1]: file_name must be a non-empty string"), w.get(0));
    assertTrue(w.get(1).contains("images[2]: image id 1 appears twice"), w.get(1));
    assertTrue(w.get(2).contains("categories[1]: category 2 has no name"), w.get(2));
    assertEquals(12.0, d.annotations().get(0).area());
    assertEquals(3, d.skippedEntries());
  }

  @Test
  void aFileThatIsNotCocoIsRefusedWhole() {
    var e =
        assertThrows(
            CocoDataset.BadInput.class,
            () -> CocoDataset.parse(JsonParser.parseString("[1, 2]"), "t.json", s -> {}));
    assertTrue(e.getMessage().contains("expected a COCO object"), e.getMessage());
  }

  @Test
  void twoCategoriesWithOneNameGetTheirIdsInTheirKeys() {
    CocoDataset d =
        parse(
            GOOD_IMAGE,
            GOOD_CAT + ",{\"id\": 5, \"name\": \"苹果\"},{\"id\": 6, \"name\": \"dog\"}",
            "",
            new ArrayList<>());
    assertEquals(List.of("苹果 (id 1)", "苹果 (id 5)", "dog"), List.copyOf(d.categoryNames().values()));
  }
}
