package tandem.gateway.fuzz;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import tandem.gateway.boxes.BoxParser;
import tandem.gateway.boxes.BoxScanner;
import tandem.gateway.boxes.BoxSpan;

/**
 * Model output is untrusted too: whatever text arrives between {@code <box>} tags, the parser
 * returns at least one span and never throws (a throw would kill the client's stream), and parsed
 * coordinates stay in 0–1000. Tries per property: {@code jqwik.tries.default} (see docs/security.md
 * for the long run).
 */
class BoxParserFuzzTest {
  static final AtomicLong inputs = new AtomicLong();

  static void neverThrows(String raw) {
    inputs.incrementAndGet();
    for (boolean complete : new boolean[] {true, false}) {
      List<BoxSpan> spans = BoxParser.parse(raw, complete);
      assertFalse(spans.isEmpty(), "no span for " + raw);
      for (BoxSpan s : spans) {
        assertNotNull(s.raw());
        if (s.parsed()) {
          assertTrue(s.norm().length == 4, "box with " + s.norm().length + " coordinates");
          for (double d : s.norm())
            assertTrue(d >= 0 && d <= 1000 && !Double.isNaN(d), "coordinate " + d + " for " + raw);
          for (double d : s.pixels(640, 480)) assertTrue(Double.isFinite(d));
        }
      }
    }
  }

  @Property
  void anyUnicodeParsesWithoutThrowing(@ForAll String raw) {
    neverThrows(raw);
  }

  @Property
  void jsonLikeTextParsesWithoutThrowing(@ForAll("jsonish") String raw) {
    neverThrows(raw);
  }

  @Property
  void streamingAnyTextThroughTheScannerNeverThrows(
      @ForAll("jsonish") String body, @ForAll("cuts") List<Integer> cuts) {
    inputs.incrementAndGet();
    String text = "see <box>" + body + "</box> and <box>" + body;
    BoxScanner sc = new BoxScanner();
    int from = 0;
    for (int c : cuts) {
      int to = Math.min(text.length(), from + c);
      sc.push(text.substring(from, to));
      from = to;
    }
    sc.push(text.substring(from));
    sc.finish();
  }

  @AfterContainer
  static void report() {
    System.out.println("BoxParserFuzzTest: " + inputs.get() + " inputs fuzzed");
  }

  /**
   * Strings built from JSON punctuation, keys the parser looks for, numbers (huge, negative,
   * exponents) and nesting.
   */
  @Provide
  Arbitrary<String> jsonish() {
    Arbitrary<String> atom =
        Arbitraries.oneOf(
            Arbitraries.of(
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                "\"",
                "'",
                " ",
                "\n",
                "\\",
                "\\u",
                "\\ud800",
                "null",
                "true",
                "NaN",
                "Infinity",
                "-",
                ".",
                "e",
                "E+",
                "label",
                "\"bbox\"",
                "\"bbox_2d\"",
                "x1",
                "ymax",
                "\"坐标\"",
                "<box>",
                "</box>",
                "1e309",
                "-1e309",
                "1e-400",
                "99999999999999999999999",
                "0.5",
                "1000",
                "-3"),
            Arbitraries.integers().map(String::valueOf),
            Arbitraries.doubles().map(String::valueOf),
            Arbitraries.strings().ofMaxLength(6));
    Arbitrary<String> flat = atom.list().ofMaxSize(60).map(l -> String.join("", l));
    // deep nesting: the parser is recursive, so depth is the classic way to break it
    Arbitrary<String> deep =
        Arbitraries.integers()
            .between(1, 20_000)
            .flatMap(
                n ->
                    Arbitraries.of("[", "{\"bbox\":", "[[")
                        .map(open -> open.repeat(n) + "1,2,3,4"));
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(8, flat), net.jqwik.api.Tuple.of(1, deep));
  }

  @Provide
  Arbitrary<List<Integer>> cuts() {
    return Arbitraries.integers().between(0, 7).list().ofMaxSize(40);
  }
}
