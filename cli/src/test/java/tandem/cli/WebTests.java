package tandem.cli;

import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tandem.common.testing.NodeScripts;

/**
 * Runs the scripts of cli/web-tests (npm {@code openai} and {@code playwright-core}, pinned by
 * package-lock.json) with node. Installs the locked packages on first use ({@code npm ci}, then
 * from the npm cache). A missing node, npm or chromium is a test failure that says what to install,
 * never a skip.
 */
final class WebTests {
  static final Path DIR = Path.of("web-tests").toAbsolutePath();
  static final String CHROMIUM = System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium");

  private WebTests() {}

  /** The JSON object a script printed last. */
  static JsonObject json(NodeScripts.Result r) {
    String[] lines = r.output().strip().split("\n");
    for (int i = lines.length - 1; i >= 0; i--) {
      if (lines[i].startsWith("{")) return JsonParser.parseString(lines[i]).getAsJsonObject();
    }
    throw new AssertionError("the script printed no JSON result:\n" + r.output());
  }

  /** Fails with what to install when Debian's chromium is not there (CI installs it: .ci/run). */
  static void requireChromium() {
    if (!Files.isExecutable(Path.of(CHROMIUM))) {
      fail(
          "the playground test needs Chromium at "
              + CHROMIUM
              + " (Debian: apt-get install -y chromium; .ci/run "
              + "installs it; CHROMIUM=/path overrides the location)");
    }
  }

  /** Runs {@code node script args…} in cli/web-tests. */
  static NodeScripts.Result node(int timeoutSeconds, String script, String... args) {
    NodeScripts.ensureInstalled(DIR, 20, "the HTTP API and playground tests (cli/web-tests)");
    List<String> cmd = new ArrayList<>(List.of("node", script));
    cmd.addAll(List.of(args));
    return NodeScripts.run(DIR, timeoutSeconds, cmd.toArray(String[]::new));
  }
}
