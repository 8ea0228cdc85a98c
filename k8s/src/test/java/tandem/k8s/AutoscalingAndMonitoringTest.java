package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.gateway.config.GatewaySettings;
import tandem.k8s.Chart.Rendering;
import tandem.k8s.Chart.Y;

/**
 * Autoscaling on serving signals (Prometheus Adapter HPA or KEDA ScaledObject), the ServiceMonitor,
 * the routing settings and the required image repository. The metric names here are the ones
 * common's TelemetryTest scrapes from the Prometheus exporter, so chart and services agree on them.
 */
class AutoscalingAndMonitoringTest {
  static Map<String, Object> onlyMetric(Map<String, Object> hpa) {
    List<Object> metrics = Y.list(hpa, "spec.metrics");
    assertEquals(1, metrics.size(), metrics.toString());
    return Y.map(metrics.get(0));
  }

  @Test
  void byDefaultNothingScalesOnCustomMetricsAndNothingNeedsTheirCrds() {
    Rendering r = Chart.defaults();
    assertTrue(r.ofKind("ScaledObject").isEmpty());
    assertTrue(r.ofKind("ServiceMonitor").isEmpty());
    assertEquals(
        List.of("HorizontalPodAutoscaler/tandem-gateway"),
        r.names().stream().filter(n -> n.startsWith("HorizontalPodAutoscaler/")).toList());
  }

  @Test
  void thePrometheusAdapterOptionScalesTheDecoderOnItsQueueOrItsKvCacheAndVisionOnQueuedTiles() {
    Rendering r =
        Chart.render(
            List.of(),
            "decoder.autoscaling.enabled",
            true,
            "decoder.autoscaling.customMetric.provider",
            "prometheusAdapter",
            "vision.autoscaling.enabled",
            true,
            "vision.autoscaling.customMetric.provider",
            "prometheusAdapter");
    Map<String, Object> d = onlyMetric(r.get("HorizontalPodAutoscaler", "tandem-decoder"));
    assertEquals("Pods", d.get("type"));
    assertEquals("decoder_queue_length", Y.str(d, "pods.metric.name"));
    assertEquals("AverageValue", Y.str(d, "pods.target.type"));
    assertEquals("4", Y.str(d, "pods.target.averageValue"));
    Map<String, Object> v = onlyMetric(r.get("HorizontalPodAutoscaler", "tandem-vision"));
    assertEquals("vision_queue_tiles", Y.str(v, "pods.metric.name"));
    assertEquals("16", Y.str(v, "pods.target.averageValue"));

    Rendering kv =
        Chart.render(
            List.of(),
            "decoder.autoscaling.enabled",
            true,
            "decoder.autoscaling.customMetric.provider",
            "prometheusAdapter",
            "decoder.autoscaling.customMetric.signal",
            "kvCache",
            "decoder.autoscaling.customMetric.target",
            "0.8");
    Map<String, Object> k = onlyMetric(kv.get("HorizontalPodAutoscaler", "tandem-decoder"));
    assertEquals("decoder_kv_cache_usage", Y.str(k, "pods.metric.name"));
    assertEquals("0.8", Y.str(k, "pods.target.averageValue"));
  }

  @Test
  void theKedaOptionMakesAScaledObjectQueryingTheServicesPodsAndNoHpaOfItsOwn() {
    Rendering r =
        Chart.render(
            List.of(),
            "decoder.autoscaling.enabled",
            true,
            "decoder.autoscaling.customMetric.provider",
            "keda",
            "decoder.autoscaling.minReplicas",
            2,
            "decoder.autoscaling.maxReplicas",
            6);
    assertFalse(r.names().contains("HorizontalPodAutoscaler/tandem-decoder"), "KEDA owns the HPA");
    Map<String, Object> so = r.get("ScaledObject", "tandem-decoder");
    assertEquals("keda.sh/v1alpha1", so.get("apiVersion"));
    assertEquals("tandem-decoder", Y.str(so, "spec.scaleTargetRef.name"));
    assertEquals(2, Y.at(so, "spec.minReplicaCount"));
    assertEquals(6, Y.at(so, "spec.maxReplicaCount"));
    Map<String, Object> trigger = Y.map(Y.list(so, "spec.triggers").get(0));
    assertEquals("prometheus", trigger.get("type"));
    assertEquals(
        "sum(decoder_queue_length{namespace=\"tandem\",pod=~\"tandem-decoder-.*\"})",
        Y.str(trigger, "metadata.query"));
    assertEquals("4", Y.str(trigger, "metadata.threshold"));
    assertEquals(
        "http://prometheus-operated.monitoring.svc:9090", Y.str(trigger, "metadata.serverAddress"));
    assertEquals(
        600,
        Y.at(
            so,
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds"));

    Rendering off = Chart.render(List.of(), "decoder.autoscaling.customMetric.provider", "keda");
    assertTrue(off.ofKind("ScaledObject").isEmpty(), "autoscaling.enabled=false keeps it off");
  }

  @Test
  void theServiceMonitorScrapesTheMetricsPortOfTheThreeServices() {
    Rendering r =
        Chart.render(
            List.of(),
            "serviceMonitor.enabled",
            true,
            "serviceMonitor.labels.release",
            "prometheus");
    Map<String, Object> sm = r.get("ServiceMonitor", "tandem");
    assertEquals("monitoring.coreos.com/v1", sm.get("apiVersion"));
    assertEquals("prometheus", Y.str(sm, "metadata.labels.release"));
    Map<String, Object> ep = Y.map(Y.list(sm, "spec.endpoints").get(0));
    assertEquals("http-metrics", ep.get("port"));
    assertEquals("/metrics", ep.get("path"));
    assertEquals(List.of("tandem"), Y.list(sm, "spec.namespaceSelector.matchNames"));
    Map<String, Object> selector = Y.map(Y.at(sm, "spec.selector.matchLabels"));
    int scraped = 0;
    for (Map<String, Object> svc : r.ofKind("Service")) {
      Map<String, Object> labels = Y.map(Y.at(svc, "metadata.labels"));
      boolean selected = labels.entrySet().containsAll(selector.entrySet());
      boolean hasMetrics =
          Y.list(svc, "spec.ports").stream()
              .map(Y::map)
              .anyMatch(p -> "http-metrics".equals(p.get("name")));
      if (selected && hasMetrics) scraped++;
    }
    assertEquals(
        3,
        scraped,
        "gateway, vision and decoder Services expose http-metrics to the ServiceMonitor");
  }

  @Test
  void theRoutingSettingsReachTheGatewayThroughTheConfigMap() {
    Map<String, Object> cm =
        Chart.render(
                List.of(),
                "gateway.routing.resolveSeconds",
                7,
                "gateway.routing.decoderLoadFactor",
                2)
            .get("ConfigMap", "tandem");
    assertEquals("7", Y.str(cm, "data." + GatewaySettings.RESOLVE_SECONDS.env()));
    assertEquals("2", Y.str(cm, "data." + GatewaySettings.DECODER_LOAD_FACTOR.env()));
    assertEquals(
        String.valueOf(CommonSettings.MAX_CONNECTION_AGE_SECONDS.defaultValue()),
        Y.str(
            Chart.defaults().get("ConfigMap", "tandem"),
            "data." + CommonSettings.MAX_CONNECTION_AGE_SECONDS.env()));
  }

  @Test
  void anInstallWithoutAnImageRepositoryFailsSayingToSetIt() {
    RuntimeException e =
        assertThrows(
            RuntimeException.class, () -> Chart.template(List.of(), "image.repository", ""));
    assertTrue(e.getMessage().contains("set image.repository"), e.getMessage());
    assertTrue(
        Chart.defaults()
            .container("vision")
            .get("image")
            .toString()
            .startsWith(Chart.IMAGE_PLACEHOLDER + ":"));
  }
}
