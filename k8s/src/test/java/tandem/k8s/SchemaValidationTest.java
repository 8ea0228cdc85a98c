package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.common.testing.NodeScripts;

/**
 * Rendered objects against the Kubernetes API schemas (kubernetes-models 5.1.0, i.e. the OpenAPI
 * definitions), with unknown fields rejected. The last tests prove the validator can fail, so a
 * green run means something.
 */
class SchemaValidationTest {
  @Test
  void theDefaultRenderingMatchesTheKubernetesApiSchemas() {
    NodeScripts.Result r = NodeValidator.validate(Chart.defaults().yaml);
    assertEquals(0, r.exitCode(), r.output());
    assertTrue(r.output().startsWith("ok: 16 objects"), r.output());
  }

  @Test
  void theSharedClaimOptInAndTheCustomMetricHpasMatchTheKubernetesApiSchemas() {
    NodeScripts.Result r =
        NodeValidator.validate(
            Chart.render(
                    java.util.List.of(),
                    "model.volume.type",
                    "pvc",
                    "decoder.autoscaling.enabled",
                    true,
                    "decoder.autoscaling.customMetric.provider",
                    "prometheusAdapter",
                    "vision.autoscaling.enabled",
                    true,
                    "vision.autoscaling.customMetric.provider",
                    "prometheusAdapter")
                .yaml);
    assertEquals(0, r.exitCode(), r.output());
    assertTrue(r.output().startsWith("ok: 19 objects"), r.output());
  }

  @Test
  void theCpuOnlyRenderingMatchesTheKubernetesApiSchemas() {
    NodeScripts.Result r = NodeValidator.validate(Chart.cpuOnly().yaml);
    assertEquals(0, r.exitCode(), r.output());
    assertTrue(r.output().startsWith("ok: 16 objects"), r.output());
  }

  @Test
  void everyOptionalObjectMatchesTheSchemasToo() {
    String yaml =
        Chart.template(
            List.of(),
            "vision.autoscaling.enabled",
            true,
            "decoder.autoscaling.enabled",
            true,
            "model.download.tokenSecret.name",
            "hf",
            "model.download.endpoint",
            "https://hf-mirror.example",
            "imagePullSecrets[0].name",
            "regcred",
            "gateway.service.type",
            "LoadBalancer",
            "serviceAccount.annotations.team",
            "vlm");
    NodeScripts.Result r = NodeValidator.validate(yaml);
    assertEquals(0, r.exitCode(), r.output());
    assertTrue(r.output().contains("HorizontalPodAutoscaler x3"), r.output());
  }

  @Test
  void theValidatorRejectsAWrongTypeABadEnumAndUnknownFields() {
    String bad =
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          replicas: "three"
          replicaz: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: nginx
                  imagePullPolicy: Sometimes
                  readinessProbe: {grpc: {port: 50051, servise: x}}
        """;
    NodeScripts.Result r = NodeValidator.validate(bad);
    assertEquals(1, r.exitCode(), r.output());
    for (String expected :
        List.of(
            "/spec/replicas: type",
            "/spec/replicaz: unknown field",
            "imagePullPolicy: enum",
            "/readinessProbe/grpc/servise: unknown field")) {
      assertTrue(r.output().contains(expected), "expected '" + expected + "' in:\n" + r.output());
    }
  }

  @Test
  void theValidatorRejectsKindsItDoesNotKnowAndEmptyInput() {
    NodeScripts.Result kind =
        NodeValidator.validate("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
    assertEquals(1, kind.exitCode(), kind.output());
    assertTrue(
        kind.output().contains("kind v1/Pod is not one this validator knows"), kind.output());
    NodeScripts.Result empty = NodeValidator.validate("---\n");
    assertEquals(1, empty.exitCode(), empty.output());
  }
}
