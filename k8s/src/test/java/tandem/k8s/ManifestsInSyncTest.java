package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import tandem.common.testing.NodeScripts;

/**
 * k8s/manifests/tandem.yaml is the chart rendered with default values, for `kubectl apply -f`
 * without Helm. Regenerate it with: ./mvnw -B -pl k8s -am verify -Dtandem.k8s.writeManifests=true
 */
class ManifestsInSyncTest {
  static final String HEADER =
      """
      # Generated from k8s/helm/tandem with default values (release "tandem") and the placeholder image
      # registry.example.com/tandem: replace it with the repository you pushed the image to. Otherwise do not edit.
      # Regenerate: ./mvnw -B -pl k8s -am verify -Dtandem.k8s.writeManifests=true
      # Apply: kubectl create namespace tandem && kubectl -n tandem apply -f k8s/manifests/
      """;

  @Test
  void theCommittedManifestsEqualTheDefaultRendering() throws IOException {
    String expected = HEADER + Chart.defaults().yaml;
    if (Boolean.getBoolean("tandem.k8s.writeManifests")) {
      Files.createDirectories(Chart.MANIFESTS.getParent());
      Files.writeString(Chart.MANIFESTS, expected);
    }
    assertTrue(
        Files.exists(Chart.MANIFESTS),
        Chart.MANIFESTS + " is missing; regenerate it (see this test's Javadoc)");
    assertEquals(
        expected,
        Files.readString(Chart.MANIFESTS),
        "k8s/manifests/tandem.yaml is out of date with the chart; regenerate it with "
            + "./mvnw -B -pl k8s -am verify -Dtandem.k8s.writeManifests=true");
  }

  @Test
  void theCommittedManifestsPassTheSchemaValidation() throws IOException {
    NodeScripts.Result r = NodeValidator.validate(Files.readString(Chart.MANIFESTS));
    assertEquals(0, r.exitCode(), r.output());
  }
}
