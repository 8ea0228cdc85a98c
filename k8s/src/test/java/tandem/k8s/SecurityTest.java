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
import static tandem.k8s.HelmChartTest.volume;
import static tandem.k8s.WiringTest.containerPort;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.common.testing.NodeScripts;
import tandem.k8s.Chart.Rendering;
import tandem.k8s.Chart.Y;

/**
 * TLS, internal mTLS and bearer tokens in the chart: off by default, and when on, every
 * certificate, key, CA and token file a service is told about (TANDEM_*_CERT/KEY/CA,
 * TANDEM_AUTH_TOKENS_FILE) lies in a read-only mount of the right Secret, while the probes move to
 * the plaintext health-only port.
 */
class SecurityTest {
  /** Variables that name a file the service reads: each must resolve into a mounted Secret. */
  static final List<String> FILE_VARIABLES =
      List.of(
          CommonSettings.TLS_CERT.env(),
          CommonSettings.TLS_KEY.env(),
          CommonSettings.TLS_CLIENT_CA.env(),
          CommonSettings.BACKEND_TLS_CA.env(),
          CommonSettings.BACKEND_TLS_CERT.env(),
          CommonSettings.BACKEND_TLS_KEY.env(),
          CommonSettings.AUTH_TOKENS_FILE.env());

  /** Every security variable set per pod (the ConfigMap only carries the reload period). */
  static final List<String> SECURITY_VARIABLES =
      List.of(
          CommonSettings.TLS_CERT.env(),
          CommonSettings.TLS_KEY.env(),
          CommonSettings.TLS_CLIENT_CA.env(),
          CommonSettings.TLS_CLIENT_AUTH.env(),
          CommonSettings.HEALTH_PORT.env(),
          CommonSettings.BACKEND_TLS_CA.env(),
          CommonSettings.BACKEND_TLS_CERT.env(),
          CommonSettings.BACKEND_TLS_KEY.env(),
          CommonSettings.AUTH_TOKENS_FILE.env(),
          CommonSettings.AUTH_TOKENS.env());

  /** Keys of a kubernetes.io/tls Secret (ca.crt is the optional CA that cert-manager adds). */
  static final Set<String> TLS_SECRET_KEYS = Set.of("tls.crt", "tls.key", "ca.crt");

  @Test
  void byDefaultNothingIsSecuredNoSecretIsMountedAndProbesUseTheGrpcPort() {
    for (Rendering r : List.of(Chart.defaults(), Chart.cpuOnly())) {
      assertFalse(r.yaml.contains("/etc/tandem"), "no Secret mounts by default");
      for (String c : COMPONENTS) {
        for (Object v : Y.list(podSpec(r, c), "volumes"))
          assertNull(Y.map(v).get("secret"), c + " volume " + v);
        Map<String, Object> ctr = r.container(c);
        for (String var : SECURITY_VARIABLES) assertNull(env(ctr, var), c + " sets " + var);
        assertTrue(
            Y.list(ctr, "ports").stream()
                .noneMatch(p -> "grpc-health".equals(Y.map(p).get("name"))),
            c);
        assertEquals(containerPort(ctr, "grpc"), Y.at(ctr, "readinessProbe.grpc.port"), c);
      }
      Map<String, Object> data = Y.map(Y.at(r.get("ConfigMap", "tandem"), "data"));
      for (String var : SECURITY_VARIABLES)
        assertFalse(data.containsKey(var), "ConfigMap sets " + var);
    }
  }

  @Test
  void edgeTlsMountsTheSecretIntoTheGatewayOnlyAndMovesItsProbesToTheHealthPort() {
    Rendering r = Chart.render(List.of(), "tls.enabled", true, "tls.secretName", "edge-tls");
    Map<String, Object> gw = r.container("gateway");
    assertEquals("edge-tls", secretOf(r, "gateway", CommonSettings.TLS_CERT.env()));
    assertEquals("/etc/tandem/tls/tls.crt", env(gw, CommonSettings.TLS_CERT.env()));
    assertEquals("/etc/tandem/tls/tls.key", env(gw, CommonSettings.TLS_KEY.env()));
    assertNull(env(gw, CommonSettings.TLS_CLIENT_CA.env()), "clientAuth none: no client CA");
    assertNull(env(gw, CommonSettings.BACKEND_TLS_CA.env()), "the backends stay plaintext");
    assertEquals(
        String.valueOf(ServiceDefaults.HEALTH_PORT), env(gw, CommonSettings.HEALTH_PORT.env()));
    for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
      assertEquals(ServiceDefaults.HEALTH_PORT, Y.at(gw, probe + ".grpc.port"), probe);
    }
    for (String c : MODEL_SERVICES) {
      Map<String, Object> ctr = r.container(c);
      assertNull(env(ctr, CommonSettings.TLS_CERT.env()), c);
      assertEquals(containerPort(ctr, "grpc"), Y.at(ctr, "livenessProbe.grpc.port"), c);
    }
    // the health-only port is in no Service: only the kubelet uses it
    for (Map<String, Object> svc : r.ofKind("Service")) {
      for (Object p : Y.list(svc, "spec.ports")) {
        assertFalse(
            Set.of("grpc-health", ServiceDefaults.HEALTH_PORT).contains(Y.map(p).get("targetPort")),
            svc.toString());
      }
    }
    // client certificates on the edge: the CA comes from the same Secret
    Rendering mtls =
        Chart.render(
            List.of(),
            "tls.enabled",
            true,
            "tls.secretName",
            "edge-tls",
            "tls.clientAuth",
            "optional");
    assertEquals(
        "/etc/tandem/tls/ca.crt",
        env(mtls.container("gateway"), CommonSettings.TLS_CLIENT_CA.env()));
    assertEquals("optional", env(mtls.container("gateway"), CommonSettings.TLS_CLIENT_AUTH.env()));
  }

  @Test
  void internalMtlsRequiresClientCertificatesOnTheModelServicesAndGivesTheGatewayOne() {
    Rendering r =
        Chart.render(
            List.of(), "tls.internal.enabled", true, "tls.internal.secretName", "internal-tls");
    for (String c : MODEL_SERVICES) {
      Map<String, Object> ctr = r.container(c);
      assertEquals("internal-tls", secretOf(r, c, CommonSettings.TLS_CERT.env()), c);
      assertEquals("internal-tls", secretOf(r, c, CommonSettings.TLS_CLIENT_CA.env()), c);
      assertEquals(
          "require",
          env(ctr, CommonSettings.TLS_CLIENT_AUTH.env()),
          c + ": only the gateway gets through");
      assertEquals(containerPort(ctr, "grpc-health"), Y.at(ctr, "startupProbe.grpc.port"), c);
    }
    Map<String, Object> gw = r.container("gateway");
    for (String var :
        List.of(
            CommonSettings.BACKEND_TLS_CA.env(),
            CommonSettings.BACKEND_TLS_CERT.env(),
            CommonSettings.BACKEND_TLS_KEY.env())) {
      assertEquals(
          "internal-tls",
          secretOf(r, "gateway", var),
          var + ": without clientSecretName one Secret serves both ends");
    }
    assertNull(env(gw, CommonSettings.TLS_CERT.env()), "the public port stays plaintext");
    assertEquals(containerPort(gw, "grpc"), Y.at(gw, "readinessProbe.grpc.port"));

    Rendering own =
        Chart.render(
            List.of(),
            "tls.internal.enabled",
            true,
            "tls.internal.secretName",
            "internal-tls",
            "tls.internal.clientSecretName",
            "gateway-client-tls");
    assertEquals(
        "gateway-client-tls", secretOf(own, "gateway", CommonSettings.BACKEND_TLS_CERT.env()));
    assertEquals("internal-tls", secretOf(own, "vision", CommonSettings.TLS_CERT.env()));
  }

  @Test
  void bearerTokensComeFromAMountedSecretKeyNeverFromAConfigMapOrAPlainVariable() {
    Rendering r =
        Chart.render(
            List.of(),
            "auth.enabled",
            true,
            "auth.secretName",
            "tandem-tokens",
            "auth.secretKey",
            "list");
    Map<String, Object> gw = r.container("gateway");
    assertEquals("/etc/tandem/auth/list", env(gw, CommonSettings.AUTH_TOKENS_FILE.env()));
    assertEquals("tandem-tokens", secretOf(r, "gateway", CommonSettings.AUTH_TOKENS_FILE.env()));
    Map<String, Object> vol = volume(podSpec(r, "gateway"), "auth-tokens");
    assertEquals(
        List.of(Map.of("key", "list", "path", "list")),
        Y.at(vol, "secret.items"),
        "only the tokens key");
    for (String c : MODEL_SERVICES)
      assertNull(env(r.container(c), CommonSettings.AUTH_TOKENS_FILE.env()), c);
    for (Rendering any : List.of(r, Chart.secured())) {
      for (String c : COMPONENTS) {
        assertFalse(WiringTest.variables(any, c).contains(CommonSettings.AUTH_TOKENS.env()), c);
        for (Object e : Y.list(any.container(c), "env")) {
          assertNull(
              Y.at(Y.map(e), "valueFrom.secretKeyRef"),
              "no Secret in a variable (it would not update): " + e);
        }
      }
      for (Map<String, Object> cm : any.ofKind("ConfigMap")) {
        assertFalse(
            cm.toString().contains("tandem-tokens"),
            "the ConfigMap does not even name the token Secret");
      }
    }
  }

  @Test
  void withEverythingOnEveryFileVariableResolvesIntoAReadOnlySecretMount() {
    Rendering r = Chart.secured();
    Map<String, String> expected =
        Map.of("gateway", "edge-tls", "vision", "internal-tls", "decoder", "internal-tls");
    int checked = 0;
    for (String c : COMPONENTS) {
      Map<String, Object> ctr = r.container(c);
      for (String var : FILE_VARIABLES) {
        if (env(ctr, var) == null) continue;
        String secret = secretOf(r, c, var); // asserts read-only mount, Secret volume, known key
        if (var.startsWith("TANDEM_TLS_")) assertEquals(expected.get(c), secret, c + " " + var);
        if (var.startsWith("TANDEM_BACKEND_TLS_")) assertEquals("gateway-client-tls", secret, var);
        if (var.equals(CommonSettings.AUTH_TOKENS_FILE.env()))
          assertEquals("tandem-tokens", secret, var);
        checked++;
      }
      assertNotNull(
          env(ctr, CommonSettings.HEALTH_PORT.env()),
          c + " serves TLS, so its probes need the health port");
    }
    // gateway: cert, key, client CA, 3 backend files, tokens; vision and decoder: cert, key, client
    // CA
    assertEquals(7 + 3 + 3, checked);
    assertEquals("require", env(r.container("gateway"), CommonSettings.TLS_CLIENT_AUTH.env()));
    NodeScripts.Result v = NodeValidator.validate(r.yaml);
    assertEquals(0, v.exitCode(), v.output());
    assertTrue(v.output().startsWith("ok: 16 objects"), v.output());
  }

  /**
   * The Secret that the file named by {@code var} comes from, after checking that the path lies in
   * a read-only mount of a Secret volume of the container (whole folder, no subPath: updates must
   * reach it) and names one of the Secret's keys.
   */
  static String secretOf(Rendering r, String component, String var) {
    Map<String, Object> ctr = r.container(component);
    String path = env(ctr, var);
    assertNotNull(path, component + " does not set " + var);
    String dir = path.substring(0, path.lastIndexOf('/'));
    String file = path.substring(path.lastIndexOf('/') + 1);
    Map<String, Object> mount =
        Y.list(ctr, "volumeMounts").stream()
            .map(Y::map)
            .filter(m -> dir.equals(m.get("mountPath")))
            .findFirst()
            .orElseThrow(
                () ->
                    new AssertionError(
                        component + ": " + var + "=" + path + " is in no mounted folder"));
    assertEquals(true, mount.get("readOnly"), component + " mounts " + dir + " read-only");
    assertNull(mount.get("subPath"), "a subPath mount never sees Secret updates");
    Map<String, Object> vol = volume(podSpec(r, component), (String) mount.get("name"));
    Map<String, Object> secret = Y.map(vol.get("secret"));
    Set<String> keys = new HashSet<>();
    List<Object> items = Y.list(secret, "items");
    if (items.isEmpty()) {
      keys.addAll(TLS_SECRET_KEYS);
    } else {
      for (Object i : items) keys.add((String) Y.map(i).get("path"));
    }
    assertTrue(
        keys.contains(file),
        component + ": " + var + " names " + file + ", not a key of the mounted Secret " + keys);
    assertEquals(
        0440,
        ((Number) secret.get("defaultMode")).intValue(),
        "keys readable by the pod's group only");
    return (String) secret.get("secretName");
  }
}
