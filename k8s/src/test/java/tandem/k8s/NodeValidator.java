package tandem.k8s;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs k8s/validate/validate.mjs (npm kubernetes-models: the Kubernetes OpenAPI schemas compiled to validators, plus
 * our unknown-field check) on rendered YAML. Installs the locked npm packages on first use (`npm ci`, then offline).
 * A missing node is a test failure that says what to install, never a skip.
 */
final class NodeValidator {
  static final Path DIR = Chart.MODULE.resolve("validate");

  record Result(int exitCode, String output) {}

  private static boolean installed;

  private NodeValidator() {}

  static synchronized void ensureInstalled() {
    if (installed) return;
    Result node = run(DIR, 30, "node", "--version");
    if (node.exitCode != 0 || !node.output.strip().matches("v(1[89]|[2-9][0-9])\\..*")) {
      fail("Node.js 18+ is required for the Kubernetes schema validation (k8s/validate): install nodejs and npm "
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
      // --prefer-offline: after the first install the npm cache is enough, so later builds work without a network.
      Result npm = run(DIR, 300, "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error");
      if (npm.exitCode != 0) {
        fail("`npm ci` in " + DIR + " failed (needs npm and, the first time, access to the npm registry):\n"
            + npm.output);
      }
    }
    installed = true;
  }

  /** Validates the given YAML text (one or more documents). */
  static Result validate(String yaml) {
    ensureInstalled();
    try {
      Path tmp = Files.createTempFile("tandem-k8s-", ".yaml");
      try {
        Files.writeString(tmp, yaml);
        return run(DIR, 120, "node", "validate.mjs", tmp.toString());
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static Result run(Path dir, int timeoutSeconds, String... command) {
    List<String> cmd = new ArrayList<>(List.of(command));
    Path log = null;
    try {
      // Output goes to a file, not a pipe, so a hung child cannot block us past the timeout.
      log = Files.createTempFile("tandem-k8s-", ".log");
      Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(log.toFile()).start();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(124, String.join(" ", cmd) + " timed out after " + timeoutSeconds + " s");
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
