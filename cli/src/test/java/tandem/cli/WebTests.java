package tandem.cli;

import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the scripts of cli/web-tests (npm {@code openai} and {@code playwright-core}, pinned by package-lock.json)
 * with node. Installs the locked packages on first use ({@code npm ci}, then from the npm cache). A missing node,
 * npm or chromium is a test failure that says what to install, never a skip.
 */
final class WebTests {
  static final Path DIR = Path.of("web-tests").toAbsolutePath();
  static final String CHROMIUM = System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium");

  record Result(int exitCode, String output) {
    /** The JSON object the script printed last. */
    JsonObject json() {
      String[] lines = output.strip().split("\n");
      for (int i = lines.length - 1; i >= 0; i--) {
        if (lines[i].startsWith("{")) return JsonParser.parseString(lines[i]).getAsJsonObject();
      }
      throw new AssertionError("the script printed no JSON result:\n" + output);
    }
  }

  private static boolean installed;

  private WebTests() {}

  static synchronized void ensureInstalled() {
    if (installed) return;
    if (!Files.isRegularFile(DIR.resolve("package-lock.json"))) fail("missing " + DIR.resolve("package-lock.json"));
    Result node = run(30, "node", "--version");
    if (node.exitCode != 0 || !node.output.strip().matches("v(2[0-9]|[3-9][0-9])\\..*")) {
      fail("Node.js 20+ is required for the HTTP API and playground tests (cli/web-tests): install nodejs and npm "
          + "(Debian: apt-get install -y nodejs npm). `node --version` gave: " + node.output.strip());
    }
    Path stamp = DIR.resolve("node_modules/.package-lock.json");
    boolean stale = true;
    try {
      stale = !Files.exists(stamp)
          || Files.getLastModifiedTime(DIR.resolve("package-lock.json")).compareTo(Files.getLastModifiedTime(stamp)) > 0;
    } catch (IOException e) {
      // treat as stale
    }
    if (stale) {
      // --prefer-offline: after the first install the npm cache is enough, so later builds work without a network
      Result npm = run(300, "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error");
      if (npm.exitCode != 0) {
        fail("`npm ci` in " + DIR + " failed (needs npm and, the first time, access to the npm registry):\n" + npm.output);
      }
    }
    installed = true;
  }

  /** Fails with what to install when Debian's chromium is not there (CI installs it: .ci/run). */
  static void requireChromium() {
    if (!Files.isExecutable(Path.of(CHROMIUM))) {
      fail("the playground test needs Chromium at " + CHROMIUM + " (Debian: apt-get install -y chromium; .ci/run "
          + "installs it; CHROMIUM=/path overrides the location)");
    }
  }

  /** Runs {@code node script args…} in cli/web-tests. */
  static Result node(int timeoutSeconds, String script, String... args) {
    ensureInstalled();
    List<String> cmd = new ArrayList<>(List.of("node", script));
    cmd.addAll(List.of(args));
    return run(timeoutSeconds, cmd.toArray(String[]::new));
  }

  static Result run(int timeoutSeconds, String... command) {
    List<String> cmd = List.of(command);
    Path log = null;
    try {
      // output goes to a file, not a pipe, so a hung child cannot block us past the timeout
      log = Files.createTempFile("tandem-web-", ".log");
      Process p = new ProcessBuilder(cmd).directory(DIR.toFile()).redirectErrorStream(true)
          .redirectOutput(log.toFile()).start();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(124, String.join(" ", cmd) + " timed out after " + timeoutSeconds + " s:\n"
            + Files.readString(log, StandardCharsets.UTF_8));
      }
      return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    } catch (IOException e) {
      return new Result(127, String.join(" ", cmd) + " could not start: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } finally {
      if (log != null) {
        try {
          Files.deleteIfExists(log);
        } catch (IOException ignored) {
          // a leftover temp file is harmless
        }
      }
    }
  }
}
