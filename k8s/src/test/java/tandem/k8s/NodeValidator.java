package tandem.k8s;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tandem.common.testing.NodeScripts;

/**
 * Runs k8s/validate/validate.mjs (npm kubernetes-models: the Kubernetes OpenAPI schemas compiled to
 * validators, plus our unknown-field check) on rendered YAML. Installs the locked npm packages on
 * first use (`npm ci`, then offline). A missing node is a test failure that says what to install,
 * never a skip.
 */
final class NodeValidator {
  static final Path DIR = Chart.MODULE.resolve("validate");

  private NodeValidator() {}

  /** Validates the given YAML text (one or more documents). */
  static NodeScripts.Result validate(String yaml) {
    NodeScripts.ensureInstalled(DIR, 18, "the Kubernetes schema validation (k8s/validate)");
    try {
      Path tmp = Files.createTempFile("tandem-k8s-", ".yaml");
      try {
        Files.writeString(tmp, yaml);
        return NodeScripts.run(DIR, 120, "node", "validate.mjs", tmp.toString());
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
