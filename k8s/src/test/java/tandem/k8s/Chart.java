package tandem.k8s;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The Helm chart under k8s/helm/tandem, rendered with Helm itself (helm-java: the Go Helm library,
 * offline). Paths are relative to the k8s module folder, which is where surefire runs the tests.
 */
final class Chart {
  static final Path MODULE = Path.of("").toAbsolutePath();
  static final Path DIR = MODULE.resolve("helm/tandem");
  static final Path CPU_VALUES = DIR.resolve("ci/cpu-values.yaml");
  static final Path MANIFESTS = MODULE.resolve("manifests/tandem.yaml");
  static final Path BAD_VALUES = MODULE.resolve("src/test/resources/bad-values");

  /** Release name used for k8s/manifests/ and in the tests: object names start with it. */
  static final String RELEASE = "tandem";

  /**
   * The image repository of the test renderings and of manifests/tandem.yaml: edit it before
   * applying.
   */
  static final String IMAGE_PLACEHOLDER = "registry.example.com/tandem";

  private Chart() {}

  static {
    if (!Files.isRegularFile(DIR.resolve("Chart.yaml"))) {
      throw new IllegalStateException(
          "run the k8s tests from the k8s module folder; no chart at " + DIR);
    }
  }

  static LintResult lintStrict() {
    return new Helm(DIR).lint().strict().call();
  }

  /**
   * `helm template tandem k8s/helm/tandem -f VALUES...` with optional --set pairs (key, value, key,
   * value...).
   */
  static String template(List<Path> valuesFiles, Object... sets) {
    TemplateCommand t = new Helm(DIR).template().withName(RELEASE).withNamespace(RELEASE);
    // image.repository has no default (no public image exists; an empty one fails the install, see
    // BadValuesTest):
    // every rendering names the placeholder registry the plain manifests carry, unless the caller
    // sets its own
    boolean ownImage = false;
    for (int i = 0; i + 1 < sets.length; i += 2) ownImage |= "image.repository".equals(sets[i]);
    if (!ownImage) t = t.set("image.repository", IMAGE_PLACEHOLDER);
    for (Path f : valuesFiles) t = t.withValuesFile(f);
    for (int i = 0; i + 1 < sets.length; i += 2) t = t.set((String) sets[i], sets[i + 1]);
    return t.call();
  }

  static Rendering render(List<Path> valuesFiles, Object... sets) {
    return new Rendering(template(valuesFiles, sets));
  }

  static Rendering defaults() {
    return render(List.of());
  }

  static Rendering cpuOnly() {
    return render(List.of(CPU_VALUES));
  }

  /**
   * Every security feature on: TLS with client certificates required on the edge, internal mTLS,
   * bearer tokens.
   */
  static final Object[] SECURED = {
    "tls.enabled",
    true,
    "tls.secretName",
    "edge-tls",
    "tls.clientAuth",
    "require",
    "tls.internal.enabled",
    true,
    "tls.internal.secretName",
    "internal-tls",
    "tls.internal.clientSecretName",
    "gateway-client-tls",
    "auth.enabled",
    true,
    "auth.secretName",
    "tandem-tokens"
  };

  static Rendering secured() {
    return render(List.of(), SECURED);
  }

  /** Parsed output of one rendering, with lookups by kind and name. */
  static final class Rendering {
    final String yaml;
    final List<Map<String, Object>> objects = new ArrayList<>();

    @SuppressWarnings("unchecked")
    Rendering(String yaml) {
      this.yaml = yaml;
      for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
        if (doc != null) objects.add((Map<String, Object>) doc);
      }
    }

    List<Map<String, Object>> ofKind(String kind) {
      return objects.stream().filter(o -> kind.equals(o.get("kind"))).toList();
    }

    Map<String, Object> get(String kind, String name) {
      return objects.stream()
          .filter(o -> kind.equals(o.get("kind")) && name.equals(Y.str(o, "metadata.name")))
          .findFirst()
          .orElseThrow(
              () ->
                  new AssertionError(
                      "no " + kind + "/" + name + " in the rendering; have " + names()));
    }

    List<String> names() {
      return objects.stream().map(o -> o.get("kind") + "/" + Y.str(o, "metadata.name")).toList();
    }

    /** The Deployment of one component (gateway, vision, decoder). */
    Map<String, Object> deployment(String component) {
      return get("Deployment", RELEASE + "-" + component);
    }

    /** The serving container (named like the component) of a component's Deployment. */
    Map<String, Object> container(String component) {
      return Y.list(deployment(component), "spec.template.spec.containers").stream()
          .map(Y::map)
          .filter(c -> component.equals(c.get("name")))
          .findFirst()
          .orElseThrow(() -> new AssertionError("no container " + component));
    }
  }

  /** Small path helpers over parsed YAML (dot-separated keys; no magic). */
  static final class Y {
    private Y() {}

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
      return (Map<String, Object>) Objects.requireNonNull(o, "expected a map, got null");
    }

    static Object at(Map<String, Object> root, String path) {
      Object cur = root;
      for (String k : path.split("\\.")) {
        if (!(cur instanceof Map<?, ?> m)) return null;
        cur = m.get(k);
      }
      return cur;
    }

    static String str(Map<String, Object> root, String path) {
      Object v = at(root, path);
      return v == null ? null : v.toString();
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Map<String, Object> root, String path) {
      Object v = at(root, path);
      return v == null ? List.of() : (List<Object>) v;
    }
  }
}
