package tandem.gateway.boxes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Crashes found by BoxParserFuzzTest, kept as plain tests. */
class BoxParserRegressionTest {
  @ParameterizedTest
  @ValueSource(strings = {"[", "{\"bbox\":", "[[", "(", "{"})
  void thousandsOfOpenBracketsDoNotOverflowTheStack(String open) {
    String raw = open.repeat(20_000) + "1,2,3,4";
    List<BoxSpan> spans = BoxParser.parse(raw, true);
    assertFalse(spans.isEmpty());
    // the four numbers are still found (the fallback reads them), so the box is not lost
    assertTrue(spans.get(0).parsed(), spans.get(0).toString());
    assertArrayEquals(new double[] {1, 2, 3, 4}, spans.get(0).norm());
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 10, 63, 64, 65, 200})
  void nestingUpToTheBoundIsStillReadAsStructure(int depth) {
    String raw = "[".repeat(depth) + "10, 20, 30, 40" + "]".repeat(depth);
    List<BoxSpan> spans = BoxParser.parse(raw, true);
    assertEquals(1, spans.size(), spans.toString());
    assertArrayEquals(new double[] {10, 20, 30, 40}, spans.get(0).norm());
  }

  @org.junit.jupiter.api.Test
  void aStreamOfOpenBracketsThroughTheScannerEndsInABoxNotACrash() {
    BoxScanner sc = new BoxScanner();
    sc.push("<box>");
    for (int k = 0; k < 20_000; k++) sc.push("[");
    List<BoxSpan> cut = sc.finish();
    assertEquals(1, cut.size());
    assertFalse(cut.get(0).complete());
  }
}
