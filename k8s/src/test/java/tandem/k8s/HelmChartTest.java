package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.k8s.Chart.Rendering;
import tandem.k8s.Chart.Y;

class HelmChartTest {
  static final List<String> COMPONENTS = List.of("gateway", "vision", "decoder");
  static final List<String> MODEL_SERVICES = List.of("vision", "decoder");
  static final String GPU = "nvidia.com/gpu";
  static final String LINK = "/models/by-repo/TalkUHulk--SmolVLM2-256M-Married-Qwen3-0.6B";

  @Test
  void strictLintPassesWithNothingWorseThanInfo() {
    LintResult r = Chart.lintStrict();
    assertFalse(r.isFailed(), "helm lint --strict failed: " + r.getMessages());
    for (String m : r.getMessages()) assertTrue(m.startsWith("[INFO]"), "lint says: " + m);
  }

  @Test
  void defaultsRenderEveryObjectTheIssueAsksFor() {
    List<String> names = Chart.defaults().names();
    for (String expected :
        List.of(
            "ConfigMap/tandem",
            "ServiceAccount/tandem",
            "Deployment/tandem-gateway",
            "Deployment/tandem-vision",
            "Deployment/tandem-decoder",
            "Service/tandem-gateway",
            "Service/tandem-vision",
            "Service/tandem-decoder",
            "Service/tandem-vision-headless",
            "Service/tandem-decoder-headless",
            "PodDisruptionBudget/tandem-gateway",
            "PodDisruptionBudget/tandem-vision",
            "PodDisruptionBudget/tandem-decoder",
            "NetworkPolicy/tandem-vision",
            "NetworkPolicy/tandem-decoder",
            "HorizontalPodAutoscaler/tandem-gateway")) {
      assertTrue(names.contains(expected), expected + " missing from " + names);
    }
    assertEquals(16, names.size(), "unexpected objects: " + names);
    assertTrue(
        Chart.render(List.of(), "model.volume.type", "pvc")
            .names()
            .contains("PersistentVolumeClaim/tandem-model"),
        "the shared claim, opt-in");
  }

  @Test
  void gpuModeRequestsOneGpuForVisionAndDecoderAndNoneForTheGateway() {
    Rendering r = Chart.defaults();
    for (String c : MODEL_SERVICES) {
      Map<String, Object> limits = Y.map(Y.at(r.container(c), "resources.limits"));
      assertEquals(1, limits.get(GPU), c + " GPU limit");
      assertEquals("cuda", env(r.container(c), "TANDEM_DEVICE"));
      assertTrue(Y.str(r.container(c), "image").endsWith("-cuda"), c + " image");
      assertTrue(tolerationKeys(r, c).contains(GPU), c + " tolerates the GPU taint");
    }
    String gatewayLimits = String.valueOf(Y.at(r.container("gateway"), "resources"));
    assertFalse(gatewayLimits.contains(GPU), gatewayLimits);
    assertEquals("cpu", env(r.container("gateway"), "TANDEM_DEVICE"));
    assertTrue(Y.str(r.container("gateway"), "image").endsWith("-cpu"));
    assertFalse(tolerationKeys(r, "gateway").contains(GPU));
  }

  @Test
  void gpuTypeCountNodeSelectorTolerationsAndAffinityComeFromValues(@TempDir Path tmp)
      throws IOException {
    Path values = tmp.resolve("gpu.yaml");
    Files.writeString(
        values,
        """
        gpu:
          nodeSelector: {"nvidia.com/gpu.product": "NVIDIA-L4"}
          tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]
        decoder:
          gpus: 2
          nodeSelector: {pool: decode}
          affinity:
            nodeAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]
        """);
    Rendering r = Chart.render(List.of(values));
    assertEquals(
        Map.of("nvidia.com/gpu.product", "NVIDIA-L4"), podSpec(r, "vision").get("nodeSelector"));
    assertEquals(
        Map.of("nvidia.com/gpu.product", "NVIDIA-L4", "pool", "decode"),
        podSpec(r, "decoder").get("nodeSelector"));
    assertNull(podSpec(r, "gateway").get("nodeSelector"), "the gateway stays off GPU nodes");
    assertEquals(List.of("dedicated"), tolerationKeys(r, "vision"));
    assertEquals(2, Y.map(Y.at(r.container("decoder"), "resources.limits")).get(GPU));
    assertEquals(1, Y.map(Y.at(r.container("vision"), "resources.limits")).get(GPU));
    assertTrue(Y.map(podSpec(r, "decoder").get("affinity")).containsKey("nodeAffinity"));
    assertTrue(
        Y.map(podSpec(r, "vision").get("affinity")).containsKey("podAntiAffinity"),
        "default spread");
  }

  @Test
  void cpuOnlyModeRequestsNoGpuAnywhere() {
    Rendering r = Chart.cpuOnly();
    assertFalse(r.yaml.contains(GPU), "nvidia.com/gpu appears in the CPU-only rendering");
    for (String c : COMPONENTS) {
      assertEquals("cpu", env(r.container(c), "TANDEM_DEVICE"), c);
      assertTrue(Y.str(r.container(c), "image").endsWith("-cpu"), c);
      assertNull(podSpec(r, c).get("nodeSelector"), c);
      assertNull(podSpec(r, c).get("tolerations"), c);
    }
  }

  @Test
  void everyContainerRunsNonRootOnAReadOnlyRootWithoutPrivilegeEscalation() {
    for (Rendering r : List.of(Chart.defaults(), Chart.cpuOnly(), Chart.secured())) {
      for (String c : COMPONENTS) {
        Map<String, Object> pod = podSpec(r, c);
        assertEquals(true, Y.at(pod, "securityContext.runAsNonRoot"), c);
        assertTrue(((Number) Y.at(pod, "securityContext.runAsUser")).intValue() > 0, c);
        assertEquals(false, pod.get("automountServiceAccountToken"), c);
        List<Object> all = new ArrayList<>(Y.list(pod, "containers"));
        all.addAll(Y.list(pod, "initContainers"));
        assertFalse(all.isEmpty());
        for (Object o : all) {
          Map<String, Object> ctr = Y.map(o);
          String where = c + "/" + ctr.get("name");
          assertEquals(true, Y.at(ctr, "securityContext.readOnlyRootFilesystem"), where);
          assertEquals(false, Y.at(ctr, "securityContext.allowPrivilegeEscalation"), where);
          assertEquals(List.of("ALL"), Y.at(ctr, "securityContext.capabilities.drop"), where);
          assertTrue(mountPaths(ctr).contains("/tmp"), where + " has a writable /tmp");
        }
      }
    }
  }

  @Test
  void theDefaultCpuOnlyAndSecuredPodsMeetThePodSecurityStandardRestricted() {
    // https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted), the checks
    // that apply here.
    Set<String> allowedVolumes =
        Set.of(
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret");
    for (Rendering r : List.of(Chart.defaults(), Chart.cpuOnly(), Chart.secured())) {
      for (String c : COMPONENTS) {
        Map<String, Object> pod = podSpec(r, c);
        for (String host : List.of("hostNetwork", "hostPID", "hostIPC"))
          assertNull(pod.get(host), c + " " + host);
        assertEquals("RuntimeDefault", Y.at(pod, "securityContext.seccompProfile.type"), c);
        for (Object v : Y.list(pod, "volumes")) {
          Set<String> types = new HashSet<>(Y.map(v).keySet());
          types.remove("name");
          assertTrue(allowedVolumes.containsAll(types), c + " volume " + v);
        }
        List<Object> all = new ArrayList<>(Y.list(pod, "containers"));
        all.addAll(Y.list(pod, "initContainers"));
        for (Object o : all) {
          Map<String, Object> sc = Y.map(Y.map(o).get("securityContext"));
          assertNull(sc.get("privileged"), c);
          assertNull(Y.at(sc, "capabilities.add"), c);
          assertTrue(
              Y.list(Y.map(o), "ports").stream().noneMatch(p -> Y.map(p).containsKey("hostPort")),
              c);
        }
      }
    }
  }

  @Test
  void probesAreNativeGrpcWithAStartupBudgetForModelLoading() {
    Rendering r = Chart.defaults();
    for (String c : COMPONENTS) {
      Map<String, Object> ctr = r.container(c);
      for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
        Map<String, Object> p = Y.map(ctr.get(probe));
        assertTrue(p.containsKey("grpc"), c + " " + probe + " is a gRPC probe: " + p);
        assertNull(Y.at(p, "grpc.service"), "empty service name = the server as a whole");
      }
      Map<String, Object> startup = Y.map(ctr.get("startupProbe"));
      int budget =
          (Integer) startup.get("periodSeconds") * (Integer) startup.get("failureThreshold");
      assertTrue(
          budget >= (c.equals("gateway") ? 120 : 300), c + " startup budget " + budget + " s");
    }
  }

  @Test
  void theGatewayAutoscalesByDefaultAndTheModelServicesOnRequest() {
    Rendering r = Chart.defaults();
    assertEquals(
        List.of("tandem-gateway"),
        r.ofKind("HorizontalPodAutoscaler").stream().map(h -> Y.str(h, "metadata.name")).toList());
    assertEquals(
        "tandem-gateway",
        Y.str(r.get("HorizontalPodAutoscaler", "tandem-gateway"), "spec.scaleTargetRef.name"));
    assertNull(
        Y.at(r.deployment("gateway"), "spec.replicas"), "the HPA owns the gateway's replica count");
    assertEquals(1, Y.at(r.deployment("vision"), "spec.replicas"));

    Rendering scaled =
        Chart.render(
            List.of(),
            "vision.autoscaling.enabled",
            true,
            "decoder.autoscaling.enabled",
            true,
            "decoder.autoscaling.maxReplicas",
            6);
    assertEquals(3, scaled.ofKind("HorizontalPodAutoscaler").size());
    assertEquals(
        6, Y.at(scaled.get("HorizontalPodAutoscaler", "tandem-decoder"), "spec.maxReplicas"));
    assertNull(Y.at(scaled.deployment("vision"), "spec.replicas"));
  }

  @Test
  void theModelComesFromAClaimFilledByTheDownloadStepOrFromAVolumeYouProvide() {
    Rendering r = Chart.defaults();
    Rendering shared = Chart.render(List.of(), "model.volume.type", "pvc");
    assertEquals(
        List.of("ReadWriteMany"),
        Y.list(shared.get("PersistentVolumeClaim", "tandem-model"), "spec.accessModes"));
    for (String c : COMPONENTS) {
      Map<String, Object> pod = podSpec(r, c);
      // the default binds wherever a default StorageClass exists: a ReadWriteOnce claim per pod,
      // filled by its init step
      assertEquals(
          List.of("ReadWriteOnce"),
          Y.list(volume(pod, "model"), "ephemeral.volumeClaimTemplate.spec.accessModes"),
          c);
      assertEquals(
          "10Gi",
          Y.str(
              volume(pod, "model"),
              "ephemeral.volumeClaimTemplate.spec.resources.requests.storage"),
          c);
      assertEquals(
          "tandem-model",
          Y.str(volume(podSpec(shared, c), "model"), "persistentVolumeClaim.claimName"),
          c);
      Map<String, Object> init = Y.map(Y.list(pod, "initContainers").get(0));
      assertEquals(List.of("/app/bin/model-init"), init.get("command"));
      assertEquals(
          List.of("TalkUHulk/SmolVLM2-256M-Married-Qwen3-0.6B", "/models", LINK), init.get("args"));
      assertEquals(
          "/models", mountPaths(init).get(0), "the init step writes where the service reads");
      assertEquals(List.of("serve", c), r.container(c).get("args"));
    }
    Map<String, Object> cm = r.get("ConfigMap", "tandem");
    assertEquals(
        LINK, Y.str(cm, "data.TANDEM_MODEL"), "the services get the folder the init step links");
    assertEquals("/models", Y.str(cm, "data.HF_HUB_CACHE"));
    assertEquals("1", Y.str(cm, "data.HF_HUB_OFFLINE"), "serving never downloads");

    Rendering own =
        Chart.render(
            List.of(),
            "model.volume.type",
            "existingClaim",
            "model.volume.existingClaim",
            "weights",
            "model.download.enabled",
            false,
            "model.localDir",
            "smolvlm2-qwen3");
    assertEquals(
        "weights",
        Y.str(volume(podSpec(own, "vision"), "model"), "persistentVolumeClaim.claimName"));
    assertTrue(Y.list(podSpec(own, "vision"), "initContainers").isEmpty());
    assertEquals(
        "/models/smolvlm2-qwen3", Y.str(own.get("ConfigMap", "tandem"), "data.TANDEM_MODEL"));
    assertFalse(own.names().contains("PersistentVolumeClaim/tandem-model"));

    Rendering host =
        Chart.render(
            List.of(),
            "model.volume.type",
            "hostPath",
            "model.volume.hostPath.path",
            "/srv/models");
    assertEquals("/srv/models", Y.str(volume(podSpec(host, "decoder"), "model"), "hostPath.path"));

    Rendering cpu = Chart.cpuOnly();
    assertTrue(Y.map(volume(podSpec(cpu, "decoder"), "model")).containsKey("emptyDir"));
  }

  @Test
  void otlpSettingsAreStandardOtelVariables() {
    Map<String, Object> cm =
        Chart.render(List.of(), "otel.endpoint", "http://collector.obs:4317")
            .get("ConfigMap", "tandem");
    assertEquals("http://collector.obs:4317", Y.str(cm, "data.OTEL_EXPORTER_OTLP_ENDPOINT"));
    assertEquals("false", Y.str(cm, "data.OTEL_SDK_DISABLED"));
    // OTEL_METRICS_EXPORTER=none would also switch off the Prometheus endpoint (the variable beats
    // Telemetry's
    // defaults), so by default the chart leaves it to the services.
    assertNull(Y.at(cm, "data.OTEL_METRICS_EXPORTER"));
    assertEquals(
        "prometheus",
        Y.str(
            Chart.render(List.of(), "otel.metricsExporter", "prometheus")
                .get("ConfigMap", "tandem"),
            "data.OTEL_METRICS_EXPORTER"));
    Rendering r = Chart.defaults();
    for (String c : COMPONENTS)
      assertEquals("tandem-" + c, env(r.container(c), "OTEL_SERVICE_NAME"));
    Map<String, Object> off =
        Chart.render(List.of(), "otel.enabled", false).get("ConfigMap", "tandem");
    assertEquals("true", Y.str(off, "data.OTEL_SDK_DISABLED"));
    assertNull(Y.at(off, "data.OTEL_EXPORTER_OTLP_ENDPOINT"));
  }

  static Map<String, Object> podSpec(Rendering r, String component) {
    return Y.map(Y.at(r.deployment(component), "spec.template.spec"));
  }

  static List<String> tolerationKeys(Rendering r, String component) {
    return Y.list(podSpec(r, component), "tolerations").stream()
        .map(t -> (String) Y.map(t).get("key"))
        .toList();
  }

  static Map<String, Object> volume(Map<String, Object> pod, String name) {
    return Y.list(pod, "volumes").stream()
        .map(Y::map)
        .filter(v -> name.equals(v.get("name")))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no volume " + name));
  }

  static List<String> mountPaths(Map<String, Object> container) {
    return Y.list(container, "volumeMounts").stream()
        .map(m -> (String) Y.map(m).get("mountPath"))
        .toList();
  }

  /** Value of a plain env entry of a container, or null. */
  static String env(Map<String, Object> container, String name) {
    return Y.list(container, "env").stream()
        .map(Y::map)
        .filter(e -> name.equals(e.get("name")))
        .map(e -> (String) e.get("value"))
        .findFirst()
        .orElse(null);
  }
}
