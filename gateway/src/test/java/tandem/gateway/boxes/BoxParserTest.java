package tandem.gateway.boxes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Table tests: model text (between the box tags, or a whole answer) → the boxes the gateway
 * reports.
 */
class BoxParserTest {
  /**
   * Renders results compactly: "label[x1,y1,x2,y2]" per box, "?raw" for an unparsed span,
   * ";"-joined.
   */
  static String show(List<BoxSpan> boxes) {
    return boxes.stream()
        .map(
            b ->
                b.parsed()
                    ? String.format(
                        "%s[%s,%s,%s,%s]%s",
                        b.label(),
                        n(b.norm()[0]),
                        n(b.norm()[1]),
                        n(b.norm()[2]),
                        n(b.norm()[3]),
                        b.complete() ? "" : "~")
                    : "?" + b.raw() + (b.complete() ? "" : "~"))
        .collect(Collectors.joining(";"));
  }

  static String n(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }

  static List<Arguments> spans() {
    return List.of(
        // well-formed
        Arguments.of(
            "{\"label\": \"apple\", \"bbox\": [10, 20, 300, 400]}", "apple[10,20,300,400]"),
        Arguments.of(
            "[{\"label\":\"苹果\",\"bbox_2d\":[1,2,3,4]},{\"label\":\"梨\",\"bbox_2d\":[5,6,7,8]}]",
            "苹果[1,2,3,4];梨[5,6,7,8]"),
        Arguments.of("[100, 200, 300, 400]", "[100,200,300,400]"),
        Arguments.of("[[1,2,3,4],[5,6,7,8]]", "[1,2,3,4];[5,6,7,8]"),
        Arguments.of("{\"apple\": [1, 2, 3, 4]}", "apple[1,2,3,4]"),
        Arguments.of(
            "{\"label\": \"cat\", \"x1\": 5, \"y1\": 6, \"x2\": 70, \"y2\": 80}", "cat[5,6,70,80]"),
        Arguments.of(
            "{\"label\": \"cup\", \"bbox\": [12.5, 20.25, 30, 40]}", "cup[12.5,20.25,30,40]"),
        // broken JSON
        Arguments.of("{label: apple, bbox: [10, 20, 300, 400],}", "apple[10,20,300,400]"),
        Arguments.of("{'label': 'apple', 'bbox': [10, 20, 300, 400]}", "apple[10,20,300,400]"),
        Arguments.of("{\"label\"：\"苹果\"，\"bbox\"：［10，20，300，400］}", "苹果[10,20,300,400]"),
        Arguments.of("{\"label\": \"apple, \"bbox\": [1, 2, 3, 4]}", "apple[1,2,3,4]"),
        Arguments.of("{\"label\": \"apple\" \"bbox\" [1 2 3 4]}", "apple[1,2,3,4]"),
        Arguments.of("apple [10,20,30,40]", "apple[10,20,30,40]"),
        Arguments.of(
            "[\"apple\", [10,20,30,40], \"pear\", [50,60,70,80]]",
            "apple[10,20,30,40];pear[50,60,70,80]"),
        Arguments.of("apple: (10, 20), (30, 40)", "apple[10,20,30,40]"),
        // out of range: clamped; reversed corners: ordered
        Arguments.of("{\"label\": \"a\", \"bbox\": [-5, 20, 1200, 400]}", "a[0,20,1000,400]"),
        Arguments.of("[300, 400, 100, 200]", "[100,200,300,400]"),
        // no box / nonsense: reported unparsed with the raw text
        Arguments.of("", "?"),
        Arguments.of("no coordinates here", "?no coordinates here"),
        Arguments.of("{\"label\": \"apple\"}", "?{\"label\": \"apple\"}"),
        Arguments.of("[1, 2, 3]", "?[1, 2, 3]"),
        Arguments.of("}}]]{{[[::,,\"", "?}}]]{{[[::,,\""),
        Arguments.of("{\"bbox\": [NaN, 1e999, 3, 4]}", "?{\"bbox\": [NaN, 1e999, 3, 4]}"));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @MethodSource("spans")
  void aSpanParsesToTheExpectedBoxes(String raw, String expected) {
    assertEquals(expected, show(BoxParser.parse(raw, true)));
  }

  static List<Arguments> answers() {
    return List.of(
        Arguments.of("图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[1,2,3,4]}</box>。", "苹果[1,2,3,4]"),
        Arguments.of(
            "<box>[1,2,3,4]</box> and <box>{label: b, bbox: [5,6,7,8]}</box>",
            "[1,2,3,4];b[5,6,7,8]"),
        Arguments.of("there is no box in this answer", ""),
        Arguments.of("a stray </box> closes nothing", ""),
        // cut off: the span is still reported, flagged incomplete
        Arguments.of(
            "<box>{\"label\": \"apple\", \"bbox\": [10, 20, 30, 40", "apple[10,20,30,40]~"),
        Arguments.of(
            "<box>{\"label\": \"apple\", \"bbox\": [10, 2",
            "?{\"label\": \"apple\", \"bbox\": [10, 2~"),
        Arguments.of("<box>[1,2,3,4]</box><box>", "[1,2,3,4];?~"));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @MethodSource("answers")
  void aWholeAnswerGivesItsBoxesInOrder(String answer, String expected) {
    assertEquals(expected, show(BoxScanner.scanAll(answer)));
  }

  @Test
  void boxesAreReportedAsSoonAsTheirSpanClosesEvenWhenTagsArriveInPieces() {
    BoxScanner s = new BoxScanner();
    String answer =
        "ok <box>[1,2,3,4]</box> then <box>{\"label\":\"x\",\"bbox\":[5,6,7,8]}</box> end";
    int reportedAt = -1;
    int count = 0;
    for (int i = 0; i < answer.length(); i++) {
      List<BoxSpan> got = s.push(answer.substring(i, i + 1));
      if (!got.isEmpty() && reportedAt < 0) reportedAt = i;
      count += got.size();
    }
    assertEquals(answer.indexOf("</box>") + "</box>".length() - 1, reportedAt);
    assertEquals(2, count);
    assertTrue(s.finish().isEmpty());
  }

  @Test
  void pixelsArePerMilleOfTheOriginalWidthAndHeight() {
    BoxSpan b = BoxParser.parse("[100, 250, 500, 1000]", true).get(0);
    assertArrayEquals(new double[] {60, 100, 300, 400}, b.pixels(600, 400), 1e-9);
    assertNull(BoxSpan.unparsed("x", true).pixels(600, 400));
  }

  @Test
  void theParserNeverThrowsOnArbitraryText() {
    java.util.Random r = new java.util.Random(7);
    String alphabet = "{}[]():,\"' 0123456789.-eE\nabc苹果，：";
    for (int t = 0; t < 2000; t++) {
      StringBuilder sb = new StringBuilder();
      int len = r.nextInt(40);
      for (int i = 0; i < len; i++) sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
      List<BoxSpan> out = BoxParser.parse(sb.toString(), r.nextBoolean());
      assertFalse(out.isEmpty());
      for (BoxSpan b : out) {
        if (b.parsed()) for (double d : b.norm()) assertTrue(d >= 0 && d <= 1000);
      }
    }
  }
}
