package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.k8s.HelmChartTest.COMPONENTS;
import static tandem.k8s.HelmChartTest.MODEL_SERVICES;
import static tandem.k8s.HelmChartTest.env;
import static tandem.k8s.HelmChartTest.podSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.gateway.config.GatewaySettings;
import tandem.k8s.Chart.Rendering;
import tandem.k8s.Chart.Y;

/**
 * The chart against what the services actually listen on and read: their setting registries are the
 * one source of truth for variable names and defaults, ServiceDefaults for the well-known ports,
 * and every port reference in the rendering (container, probes, Services, NetworkPolicy, the
 * gateway's backend addresses) must point at the same number.
 */
class WiringTest {
  /**
   * Standard OpenTelemetry SDK variables the chart may set (OpenTelemetry specification, SDK
   * configuration).
   */
  static final Set<String> OTEL_VARIABLES =
      Set.of(
          "OTEL_SDK_DISABLED",
          "OTEL_SERVICE_NAME",
          "OTEL_RESOURCE_ATTRIBUTES",
          "OTEL_TRACES_EXPORTER",
          "OTEL_METRICS_EXPORTER",
          "OTEL_LOGS_EXPORTER",
          "OTEL_EXPORTER_OTLP_ENDPOINT",
          "OTEL_EXPORTER_OTLP_PROTOCOL",
          "OTEL_TRACES_SAMPLER",
          "OTEL_TRACES_SAMPLER_ARG",
          "OTEL_PROPAGATORS");

  /** Hugging Face Hub variables of `vlm download` and the model resolver (issue 8). */
  static final Set<String> HF_VARIABLES =
      Set.of("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_TOKEN");

  /**
   * JVM options for the java launcher, and downward-API helpers used inside
   * OTEL_RESOURCE_ATTRIBUTES.
   */
  static final Set<String> OTHER_VARIABLES =
      Set.of("JDK_JAVA_OPTIONS", "POD_NAME", "POD_NAMESPACE", "NODE_NAME");

  @Test
  void theChartsDefaultPortsAreTheServiceDefaults() throws IOException {
    Map<String, Object> values = values();
    for (String c : COMPONENTS)
      assertEquals(Defaults.port(c), Y.at(values, c + ".port"), c + ".port");
    assertEquals(ServiceDefaults.METRICS_PORT, Y.at(values, "metrics.port"));
    assertEquals(ServiceDefaults.HEALTH_PORT, Y.at(values, "tls.healthPort"));
    // and by reflection, so a renamed constant cannot slip past a compile-time inline
    Map<String, Object> constants = Defaults.constants();
    assertEquals(constants.get("GATEWAY_PORT"), Y.at(values, "gateway.port"));
    assertEquals(constants.get("VISION_PORT"), Y.at(values, "vision.port"));
    assertEquals(constants.get("DECODER_PORT"), Y.at(values, "decoder.port"));
  }

  static Stream<Arguments> renderings() {
    return Stream.of(
        Arguments.of("defaults", Chart.defaults()),
        Arguments.of("cpu-only", Chart.cpuOnly()),
        Arguments.of(
            "ports moved",
            Chart.render(
                List.of(),
                "gateway.port",
                6001,
                "vision.port",
                6002,
                "decoder.port",
                6003,
                "metrics.port",
                9100)),
        Arguments.of(
            "clusterIP backends", Chart.render(List.of(), "gateway.backendDiscovery", "clusterIP")),
        Arguments.of("secured", Chart.secured()));
  }

  /**
   * In ServiceDefaults but deliberately never set by the chart: inline tokens would sit in the pod
   * spec (or a ConfigMap) for anyone who can read it; the chart mounts them from a Secret as
   * TANDEM_AUTH_TOKENS_FILE. The client token is read by `vlm chat`/`vlm bench`, which the chart
   * never runs.
   */
  static final Set<String> NEVER_SET_BY_THE_CHART =
      Set.of(CommonSettings.AUTH_TOKENS.env(), ServiceDefaults.ENV_CLIENT_TOKEN);

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void everyVariableTheChartSetsIsOneTheServicesReadOrAStandardOne(String name, Rendering r) {
    Set<String> tandem = new HashSet<>(Defaults.settingsByEnv().keySet());
    for (String c : COMPONENTS) {
      for (String var : variables(r, c)) {
        if (var.startsWith("TANDEM_")) {
          assertTrue(
              tandem.contains(var), c + " sets " + var + ", which no service reads: " + tandem);
        } else {
          assertTrue(
              OTEL_VARIABLES.contains(var)
                  || HF_VARIABLES.contains(var)
                  || OTHER_VARIABLES.contains(var),
              c + " sets unknown variable " + var);
        }
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void kubernetesInjectsNoServiceLinkVariablesIntoTheTandemNamespace(String name, Rendering r) {
    // A Service named tandem-vision would otherwise give every pod
    // TANDEM_VISION_PORT=tcp://10.0.0.7:50052 etc.
    for (String c : COMPONENTS) assertEquals(false, podSpec(r, c).get("enableServiceLinks"), c);
  }

  @Test
  void everyVariableTheServicesReadIsSetByTheChartWithDefaultsOrWithSecurityOn() {
    // TLS and token variables are off by default: they appear once their values are on
    Set<String> set = new TreeSet<>();
    for (Rendering r : List.of(Chart.defaults(), Chart.secured())) {
      for (String c : COMPONENTS) set.addAll(variables(r, c));
    }
    Set<String> missing = new TreeSet<>(Defaults.settingsByEnv().keySet());
    missing.removeAll(set);
    missing.removeAll(NEVER_SET_BY_THE_CHART);
    assertTrue(
        missing.isEmpty(),
        "variables the services read that the chart never sets (add them to the chart): "
            + missing);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void theChartNeverSetsInlineTokens(String name, Rendering r) {
    for (String c : COMPONENTS) {
      Set<String> vars = variables(r, c);
      for (String never : NEVER_SET_BY_THE_CHART)
        assertFalse(vars.contains(never), c + " sets " + never);
    }
  }

  /**
   * Where the chart differs from a service's own default on purpose: in a cluster the metrics port
   * is open (on the well-known port) while a process started by hand serves none.
   */
  static final Map<String, Object> CHART_CHOICES =
      Map.of(CommonSettings.METRICS_PORT.env(), ServiceDefaults.METRICS_PORT);

  /** Every setting the chart's ConfigMap holds has the value the service would take by default. */
  @Test
  void theChartsDefaultSettingsEqualTheServicesDefaults() {
    Map<String, Object> data = Y.map(Y.at(Chart.defaults().get("ConfigMap", "tandem"), "data"));
    Map<String, Setting<?>> settings = Defaults.settingsByEnv();
    int compared = 0;
    for (Map.Entry<String, Object> d : data.entrySet()) {
      Setting<?> s = settings.get(d.getKey());
      if (s == null || s.defaultValue() == null) continue;
      Object expected = CHART_CHOICES.getOrDefault(d.getKey(), s.defaultValue());
      assertEquals(
          expected,
          s.parse(d.getKey(), String.valueOf(d.getValue())),
          d.getKey() + ": chart default vs the setting's");
      compared++;
    }
    assertTrue(
        compared >= 30, "only " + compared + " of the ConfigMap's settings have a service default");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void everyServiceDrainsWithTheSameGraceBelowItsTerminationGracePeriod(String name, Rendering r) {
    assertDrainGrace(r, CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultValue());
  }

  @Test
  void theDrainGraceValueReachesEveryService() {
    assertDrainGrace(Chart.render(List.of(), "shutdownGraceSeconds", 40), 40);
  }

  /**
   * Each pod reads TANDEM_SHUTDOWN_GRACE_SECONDS = {@code grace}, and the kubelet waits longer than
   * that.
   */
  static void assertDrainGrace(Rendering r, int grace) {
    Map<String, Object> data = Y.map(Y.at(r.get("ConfigMap", Chart.RELEASE), "data"));
    assertEquals(String.valueOf(grace), data.get(CommonSettings.SHUTDOWN_GRACE_SECONDS.env()));
    for (String c : COMPONENTS) {
      assertTrue(
          variables(r, c).contains(CommonSettings.SHUTDOWN_GRACE_SECONDS.env()),
          c + " gets no drain grace");
      int term = (Integer) podSpec(r, c).get("terminationGracePeriodSeconds");
      assertTrue(
          grace < term,
          c + ": drain grace " + grace + " s is not below terminationGracePeriodSeconds " + term);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void containerPortProbesServicesAndTandemPortAgree(String name, Rendering r) {
    for (String c : COMPONENTS) {
      Map<String, Object> ctr = r.container(c);
      int port = containerPort(ctr, "grpc");
      assertEquals(
          String.valueOf(port), env(ctr, "TANDEM_PORT"), c + " listens where the pod says");
      // probes go where grpc.health.v1 is served in plaintext: the gRPC port, or the health-only
      // port when the gRPC
      // port serves TLS
      String health = env(ctr, CommonSettings.HEALTH_PORT.env());
      int probed = port;
      if (health != null) {
        probed = containerPort(ctr, "grpc-health");
        assertEquals(health, String.valueOf(probed), c + " opens the health port the pod declares");
        assertNotNull(
            env(ctr, CommonSettings.TLS_CERT.env()),
            c + " has a health-only port only because of TLS");
        assertFalse(probed == port, c);
      } else {
        assertNull(env(ctr, CommonSettings.TLS_CERT.env()), c + " serves TLS on the probed port");
      }
      for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
        assertEquals(probed, Y.at(ctr, probe + ".grpc.port"), c + " " + probe);
      }
      int metrics = containerPort(ctr, "http-metrics");
      assertEquals(
          Y.str(r.get("ConfigMap", "tandem"), "data.TANDEM_METRICS_PORT"), String.valueOf(metrics));
      assertEquals(
          String.valueOf(metrics), annotations(r, c).get("prometheus.io/port"), c + " scrape port");

      Map<String, Object> svc = r.get("Service", "tandem-" + c);
      assertServiceTargets(svc, ctr, podLabels(r, c), port);
      if (!c.equals("gateway")) {
        Map<String, Object> headless = r.get("Service", "tandem-" + c + "-headless");
        assertEquals("None", Y.str(headless, "spec.clusterIP"));
        assertServiceTargets(headless, ctr, podLabels(r, c), port);
      }
    }
    // The gateway dials the model services where they listen.
    Map<String, Object> gw = r.container("gateway");
    boolean headless = !name.equals("clusterIP backends");
    for (String c : MODEL_SERVICES) {
      int port = containerPort(r.container(c), "grpc");
      String var =
          c.equals("vision")
              ? GatewaySettings.VISION_ADDR.env()
              : GatewaySettings.DECODER_ADDR.env();
      String expected =
          headless ? "dns:///tandem-" + c + "-headless:" + port : "tandem-" + c + ":" + port;
      assertEquals(expected, env(gw, var), var);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("renderings")
  void onlyTheGatewayReachesTheModelServicesGrpcPorts(String name, Rendering r) {
    Map<String, String> gatewayLabels = podLabels(r, "gateway");
    for (Map<String, Object> np : r.ofKind("NetworkPolicy")) {
      assertFalse(
          selects(np, gatewayLabels), "no policy isolates the gateway (it is the public entry)");
    }
    for (String c : MODEL_SERVICES) {
      Map<String, Object> np = r.get("NetworkPolicy", "tandem-" + c);
      assertTrue(selects(np, podLabels(r, c)), "the policy selects the " + c + " pods");
      assertTrue(Y.list(np, "spec.policyTypes").contains("Ingress"));
      Map<String, Object> ctr = r.container(c);
      int grpc = containerPort(ctr, "grpc");
      int rulesForGrpc = 0;
      for (Object o : Y.list(np, "spec.ingress")) {
        Map<String, Object> rule = Y.map(o);
        List<Object> ports = Y.list(rule, "ports");
        assertFalse(ports.isEmpty(), "a rule without ports would open every port");
        Set<Integer> resolved = new HashSet<>();
        for (Object p : ports) resolved.add(resolvePort(ctr, Y.map(p).get("port")));
        if (resolved.contains(grpc)) {
          rulesForGrpc++;
          assertEquals(Set.of(grpc), resolved);
          List<Object> from = Y.list(rule, "from");
          assertEquals(1, from.size(), "exactly one peer may reach gRPC: " + from);
          Map<String, Object> peer = Y.map(from.get(0));
          assertEquals(Set.of("podSelector"), peer.keySet(), "same-namespace pods only");
          Map<String, String> match = stringMap(Y.at(peer, "podSelector.matchLabels"));
          assertTrue(
              gatewayLabels.entrySet().containsAll(match.entrySet()), "the peer is the gateway");
          for (String other : MODEL_SERVICES) {
            assertFalse(
                podLabels(r, other).entrySet().containsAll(match.entrySet()),
                "the peer is not " + other);
          }
        } else {
          assertEquals(
              Set.of(containerPort(ctr, "http-metrics")),
              resolved,
              "other rules open only metrics");
        }
      }
      assertEquals(1, rulesForGrpc, c);
    }
  }

  static void assertServiceTargets(
      Map<String, Object> svc, Map<String, Object> ctr, Map<String, String> podLabels, int port) {
    String name = Y.str(svc, "metadata.name");
    Map<String, String> selector = stringMap(Y.at(svc, "spec.selector"));
    assertFalse(selector.isEmpty());
    assertTrue(podLabels.entrySet().containsAll(selector.entrySet()), name + " selects the pods");
    Map<String, Object> grpc =
        Y.list(svc, "spec.ports").stream()
            .map(Y::map)
            .filter(p -> "grpc".equals(p.get("name")))
            .findFirst()
            .orElseThrow(() -> new AssertionError(name + " grpc port"));
    assertEquals(port, grpc.get("port"), name + " port");
    assertEquals(port, resolvePort(ctr, grpc.get("targetPort")), name + " targetPort");
    // Istio: port name "grpc" or "grpc-*", or appProtocol; Linkerd detects HTTP/2 itself.
    assertEquals("grpc", grpc.get("appProtocol"), name);
  }

  /**
   * Every variable a component's serving container gets: its env list plus the ConfigMap keys it
   * loads.
   */
  static Set<String> variables(Rendering r, String component) {
    Map<String, Object> ctr = r.container(component);
    Set<String> out = new TreeSet<>();
    for (Object e : Y.list(ctr, "env")) out.add((String) Y.map(e).get("name"));
    for (Object ef : Y.list(ctr, "envFrom")) {
      String cm = Y.str(Y.map(ef), "configMapRef.name");
      assertNotNull(cm, "only ConfigMap envFrom is expected: " + ef);
      out.addAll(Y.map(Y.at(r.get("ConfigMap", cm), "data")).keySet());
    }
    for (Object i : Y.list(podSpec(r, component), "initContainers")) {
      for (Object e : Y.list(Y.map(i), "env")) out.add((String) Y.map(e).get("name"));
    }
    return out;
  }

  static int containerPort(Map<String, Object> ctr, String name) {
    return Y.list(ctr, "ports").stream()
        .map(Y::map)
        .filter(p -> name.equals(p.get("name")))
        .map(p -> (Integer) p.get("containerPort"))
        .findFirst()
        .orElseThrow(() -> new AssertionError(ctr.get("name") + " has no port named " + name));
  }

  /** A numeric port, or a named one resolved against the container's ports (as Kubernetes does). */
  static int resolvePort(Map<String, Object> ctr, Object port) {
    return port instanceof Integer i ? i : containerPort(ctr, (String) port);
  }

  static Map<String, String> podLabels(Rendering r, String c) {
    return stringMap(Y.at(r.deployment(c), "spec.template.metadata.labels"));
  }

  static Map<String, String> annotations(Rendering r, String c) {
    return stringMap(Y.at(r.deployment(c), "spec.template.metadata.annotations"));
  }

  static boolean selects(Map<String, Object> np, Map<String, String> labels) {
    Map<String, String> match = stringMap(Y.at(np, "spec.podSelector.matchLabels"));
    return labels.entrySet().containsAll(match.entrySet());
  }

  static Map<String, String> stringMap(Object o) {
    Map<String, String> out = new LinkedHashMap<>();
    if (o != null) Y.map(o).forEach((k, v) -> out.put(k, String.valueOf(v)));
    return out;
  }

  static Map<String, Object> values() throws IOException {
    return Y.map(
        new Yaml(new SafeConstructor(new LoaderOptions()))
            .load(Files.readString(Chart.DIR.resolve("values.yaml"))));
  }
}
