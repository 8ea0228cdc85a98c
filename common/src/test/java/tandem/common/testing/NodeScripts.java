package tandem.common.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Node.js scripts in a folder with a package-lock.json (the HTTP API and playground tests, the
 * Kubernetes schema validator): the locked npm packages are installed on first use ({@code npm ci},
 * later from the npm cache, so builds after the first need no network). A missing node or npm is a
 * test failure that says what to install, never a skip.
 */
public final class NodeScripts {
  /** A finished command: its exit code (124 = timed out, 127 = could not start) and its output. */
  public record Result(int exitCode, String output) {}

  private static final Set<Path> INSTALLED = new HashSet<>();

  private NodeScripts() {}

  /**
   * Node of major version {@code minMajor} or newer, and {@code dir}'s locked packages installed;
   * {@code purpose} names the tests in the failure message.
   */
  public static synchronized void ensureInstalled(Path dir, int minMajor, String purpose) {
    if (INSTALLED.contains(dir)) return;
    if (!Files.isRegularFile(dir.resolve("package-lock.json")))
      fail("missing " + dir.resolve("package-lock.json"));
    Result node = run(dir, 30, "node", "--version");
    String v = node.output.strip();
    int major = v.matches("v[0-9]+\\..*") ? Integer.parseInt(v.substring(1, v.indexOf('.'))) : -1;
    if (node.exitCode != 0 || major < minMajor) {
      fail(
          "Node.js "
              + minMajor
              + "+ is required for "
              + purpose
              + ": install nodejs and npm (Debian: apt-get install"
              + " -y nodejs npm). `node --version` gave: "
              + v);
    }
    Path stamp = dir.resolve("node_modules/.package-lock.json");
    boolean stale = true;
    try {
      stale =
          !Files.exists(stamp)
              || Files.getLastModifiedTime(dir.resolve("package-lock.json"))
                      .compareTo(Files.getLastModifiedTime(stamp))
                  > 0;
    } catch (IOException e) {
      // treat as stale
    }
    if (stale) {
      // --prefer-offline: after the first install the npm cache is enough, so later builds work
      // without a network
      Result npm =
          run(
              dir,
              300,
              "npm",
              "ci",
              "--prefer-offline",
              "--no-audit",
              "--no-fund",
              "--loglevel=error");
      if (npm.exitCode != 0) {
        fail(
            "`npm ci` in "
                + dir
                + " failed (needs npm and, the first time, access to the npm registry):\n"
                + npm.output);
      }
    }
    INSTALLED.add(dir);
  }

  /** Runs {@code command} in {@code dir}, killing it after {@code timeoutSeconds}. */
  public static Result run(Path dir, int timeoutSeconds, String... command) {
    List<String> cmd = List.of(command);
    Path log = null;
    try {
      // output goes to a file, not a pipe, so a hung child cannot block us past the timeout
      log = Files.createTempFile("tandem-node-", ".log");
      Process p =
          new ProcessBuilder(cmd)
              .directory(dir.toFile())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(
            124,
            String.join(" ", cmd)
                + " timed out after "
                + timeoutSeconds
                + " s:\n"
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
