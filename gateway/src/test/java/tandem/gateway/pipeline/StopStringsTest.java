package tandem.gateway.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class StopStringsTest {
  /**
   * Pieces as tokens would bring them, the stop strings, what the client sees, and whether it
   * stopped.
   */
  static List<Arguments> cases() {
    return List.of(
        Arguments.of(List.of("Hello", " wor", "ld"), List.of("world"), "Hello ", true),
        Arguments.of(List.of("ab", "c", "d"), List.of("bcd"), "a", true),
        Arguments.of(List.of("a", "b", "x"), List.of("abc"), "abx", false),
        Arguments.of(List.of("one. ", "two", ". three"), List.of(". t"), "one", true),
        Arguments.of(List.of("one", ". ", "two", ". three"), List.of(". th"), "one. two", true),
        Arguments.of(List.of("x<", "/box", "> tail"), List.of("</box>"), "x", true),
        Arguments.of(List.of("no stop here"), List.of(), "no stop here", false),
        Arguments.of(List.of("aaab"), List.of("aab", "b"), "a", true),
        Arguments.of(List.of("猫", "が", "いる。", "犬"), List.of("。"), "猫がいる", true),
        Arguments.of(List.of("a\uD83D", "\uDE00b"), List.of("b"), "a\uD83D\uDE00", true),
        Arguments.of(List.of("end par", "tial"), List.of("partial!"), "end partial", false));
  }

  @ParameterizedTest
  @MethodSource("cases")
  void theAnswerEndsBeforeTheFirstStopStringAcrossPieces(
      List<String> pieces, List<String> stops, String shown, boolean stopped) {
    StopStrings s = new StopStrings(stops);
    StringBuilder out = new StringBuilder();
    for (String p : pieces) {
      String o = s.push(p);
      // nothing that is shown can be undone later: it never holds a stop string
      for (String st : stops) assertFalse(o.contains(st), o);
      out.append(o);
    }
    out.append(s.flush());
    assertEquals(shown, out.toString());
    assertEquals(stopped, s.stopped());
  }

  @Test
  void textThatMightStartAStopStringIsHeldBackUntilItIsDecided() {
    StopStrings s = new StopStrings(List.of("STOP"));
    assertEquals("go ", s.push("go ST"));
    assertEquals("STart", s.push("art"));
    assertEquals("", s.push("S"));
    assertEquals("", s.push("TOP and more"));
    assertTrue(s.stopped());
    assertEquals("", s.push("after"));
  }

  @Test
  void aSurrogatePairIsNeverSplitEvenWhenHoldingBack() {
    StopStrings s = new StopStrings(List.of("\uDE00x"));
    String o = s.push("a\uD83D\uDE00");
    assertFalse(!o.isEmpty() && Character.isHighSurrogate(o.charAt(o.length() - 1)), o);
  }

  @Test
  void anEmptyStopStringIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new StopStrings(List.of("")));
  }
}
