package tandem.gateway.boxes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The last-resort parser reads "any text with four numbers" as x1, y1, x2, y2; a digit that is part
 * of a key or a label (bbox_2d, box_2d, x1, cat2) is not a coordinate. The same shape with a label
 * without digits ("apple: (10, 20), (30, 40)") is already read right by BoxParserTest.
 */
class BoxParserKeyDigitsTest {
  @ParameterizedTest
  @ValueSource(
      strings = {
        "bbox_2d: (100, 200), (300, 400)",
        "box_2d: 100, 200, 300, 400",
        "{\"bbox_2d\": \"100, 200, 300, 400\"}",
        "x1=100, y1=200, x2=300, y2=400",
      })
  void digitsInsideKeysAreNotTakenAsCoordinates(String raw) {
    List<BoxSpan> spans = BoxParser.parse(raw, true);
    assertEquals(1, spans.size(), spans.toString());
    assertArrayEquals(new double[] {100, 200, 300, 400}, spans.get(0).norm(), spans.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"cat2: (10, 20), (30, 40)", "苹果10,20,30,40", "位置：10，20，30，40"})
  void aLabelWithDigitsOrAChineseLabelRunningIntoTheNumbersKeepsTheFourCoordinates(String raw) {
    List<BoxSpan> spans = BoxParser.parse(raw, true);
    assertEquals(1, spans.size(), spans.toString());
    assertArrayEquals(new double[] {10, 20, 30, 40}, spans.get(0).norm(), spans.toString());
  }
}
