package tandem.gateway.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ThinkBlockStripperTest {
  static List<Arguments> cases() {
    return List.of(
        Arguments.of(List.of("<think>", "\n\n", "</think>", "\n\n", "Hello"), "Hello"),
        Arguments.of(List.of("<think>\n\n</think>\n\nHi"), "Hi"),
        Arguments.of(List.of("Hello", " world"), "Hello world"),
        Arguments.of(List.of("<thi", "s is"), "<this is"),
        Arguments.of(
            List.of("<think>", "\nreal reasoning</think>ok"), "<think>\nreal reasoning</think>ok"),
        Arguments.of(List.of("<think>", "\n\n"), "<think>\n\n"),
        Arguments.of(
            List.of("<think>\n\n</think>\n\n<think>\n\n</think>\n\n"), "<think>\n\n</think>\n\n"),
        Arguments.of(List.of(), ""));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @MethodSource("cases")
  void onlyALeadingEmptyThinkBlockIsDropped(List<String> deltas, String expected) {
    ThinkBlockStripper s = new ThinkBlockStripper();
    StringBuilder out = new StringBuilder();
    for (String d : deltas) out.append(s.push(d));
    out.append(s.flush());
    assertEquals(expected, out.toString());
    assertEquals(expected, ThinkBlockStripper.strip(String.join("", deltas)));
  }
}
