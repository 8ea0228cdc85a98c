package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every file in src/test/resources/bad-values must make `helm template` (and so install/upgrade)
 * fail, with a message that names the problem: the file's `# expect:` line is a fragment of that
 * message.
 */
class BadValuesTest {
  static Stream<Arguments> badValues() throws IOException {
    try (Stream<Path> files = Files.list(Chart.BAD_VALUES)) {
      List<Path> list = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
      assertFalse(list.isEmpty());
      return list.stream().map(f -> Arguments.of(f.getFileName().toString(), f));
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badValues")
  void aBadValuesFileFailsTheRenderingWithAMessageNamingTheProblem(String name, Path file)
      throws IOException {
    String expect =
        Files.readAllLines(file).stream()
            .filter(l -> l.startsWith("# expect: "))
            .map(l -> l.substring("# expect: ".length()))
            .findFirst()
            .orElseThrow(() -> new AssertionError(name + " has no '# expect: ' line"));
    RuntimeException e =
        assertThrows(
            RuntimeException.class, () -> Chart.template(List.of(file)), name + " was accepted");
    assertTrue(
        e.getMessage().contains(expect),
        name + ": expected '" + expect + "' in: " + e.getMessage());
  }
}
