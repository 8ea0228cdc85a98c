package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.config.ServiceDefaults;
import tandem.k8s.Chart.Y;

/**
 * No container engine runs here, so the image cannot be built in the tests. What can drift silently
 * is checked instead: the modules the build copies, the ports it exposes, the user it runs as (the
 * chart's runAsUser), the PyTorch version of the CUDA flavor and the JRE-only runtime.
 */
class DockerfileTest {
  static final Path ROOT = Chart.MODULE.getParent();
  static final Path DOCKERFILE = Chart.MODULE.resolve("docker/Dockerfile");

  @Test
  void theImageBuildCopiesEveryModuleTheCliBuildReads() throws IOException {
    String pom = Files.readString(ROOT.resolve("pom.xml"));
    String dockerfile = Files.readString(DOCKERFILE);
    List<String> ignore = Files.readAllLines(ROOT.resolve(".dockerignore"));
    Set<String> modules = new TreeSet<>();
    Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(pom);
    while (m.find()) modules.add(m.group(1));
    assertTrue(modules.contains("cli"), modules.toString());
    for (String module : modules) {
      if (module.equals("k8s")) {
        assertTrue(dockerfile.contains("COPY k8s/pom.xml k8s/pom.xml"));
        assertTrue(ignore.contains("!k8s/pom.xml"));
        continue;
      }
      assertTrue(
          dockerfile.contains("COPY " + module + "/ " + module + "/"),
          "the Dockerfile must COPY " + module);
      assertTrue(
          ignore.contains("!" + module + "/"), ".dockerignore must let " + module + "/ through");
    }
  }

  @Test
  void theImageExposesTheServicePorts() throws IOException {
    String expose = line("EXPOSE ");
    Set<String> ports =
        new TreeSet<>(List.of(expose.substring("EXPOSE ".length()).trim().split("\\s+")));
    assertEquals(
        new TreeSet<>(
            List.of(
                String.valueOf(ServiceDefaults.GATEWAY_PORT),
                String.valueOf(ServiceDefaults.VISION_PORT),
                String.valueOf(ServiceDefaults.DECODER_PORT),
                String.valueOf(ServiceDefaults.METRICS_PORT))),
        ports);
  }

  @Test
  void theImageUserIsTheChartsNonRootUser() throws IOException {
    var values = WiringTest.values();
    int uid = (Integer) Y.at(values, "podSecurityContext.runAsUser");
    int gid = (Integer) Y.at(values, "podSecurityContext.runAsGroup");
    assertTrue(uid > 0);
    assertEquals("USER " + uid + ":" + gid, line("USER "));
    String dockerfile = Files.readString(DOCKERFILE);
    assertTrue(
        dockerfile.contains("--uid " + uid + " --gid " + gid), "useradd with the chart's UID/GID");
  }

  @Test
  void theRuntimeIsJreOnlyAndTheCudaFlavorMatchesThePomsPytorch() throws IOException {
    assertTrue(line("ARG JRE_IMAGE=").contains("-jre"), line("ARG JRE_IMAGE="));
    assertEquals("FROM ${JRE_IMAGE} AS runtime", line("FROM ${JRE_IMAGE}"));
    String pom = Files.readString(ROOT.resolve("pom.xml"));
    Matcher m = Pattern.compile("<pytorch.version>([^<]+)</pytorch.version>").matcher(pom);
    assertTrue(m.find());
    assertEquals("ARG PYTORCH_VERSION=" + m.group(1), line("ARG PYTORCH_VERSION="));
    // The chart's image tags are <tag>-cpu and <tag>-cuda: the two build targets.
    assertTrue(Files.readString(DOCKERFILE).contains("FROM runtime AS cuda"));
    assertTrue(Files.readString(DOCKERFILE).contains("FROM runtime AS cpu"));
    assertEquals("ENTRYPOINT [\"/app/bin/vlm\"]", line("ENTRYPOINT"));
  }

  @Test
  void theLauncherExecsTheJvmOnTheImagesClasspath() throws IOException {
    Path vlm = Chart.MODULE.resolve("docker/vlm");
    assertTrue(
        Files.isExecutable(vlm) && Files.isExecutable(Chart.MODULE.resolve("docker/model-init")));
    String launcher = Files.readString(vlm);
    // exec: the JVM replaces the shell and gets SIGTERM itself, so the services drain before they
    // stop.
    assertTrue(
        launcher.contains("exec java ")
            && launcher.contains("'/app/classes:/app/lib/*' tandem.cli.Vlm \"$@\""),
        launcher);
    String dockerfile = Files.readString(DOCKERFILE);
    assertTrue(
        dockerfile.contains("cp -r cli/target/classes /app/classes")
            && dockerfile.contains("cp -r cli/target/lib /app/lib"));
    assertTrue(dockerfile.contains("COPY k8s/docker/vlm k8s/docker/model-init /app/bin/"));
  }

  @Test
  void bothLaunchersAskForHugePagesOnlyWhereTheKernelOffersThem(@TempDir Path dir)
      throws IOException, InterruptedException {
    String sysfs = "/sys/kernel/mm/transparent_hugepage/enabled";
    String image = Files.readString(Chart.MODULE.resolve("docker/vlm"));
    String local = Files.readString(ROOT.resolve("vlm"));
    for (String text : List.of(image, local)) {
      assertTrue(text.contains(sysfs) && text.contains(" $thp "), text);
    }
    // ./vlm decides with the same lines as the image's launcher, which is run below
    assertEquals(thpGuard(image), thpGuard(local));
    // the image's launcher, run with the kernel's answer in a file and echo in place of java
    Path states = dir.resolve("enabled");
    Path script = dir.resolve("vlm");
    Files.writeString(
        script, image.replace(sysfs, states.toString()).replace("exec java ", "exec echo java "));
    for (String state :
        List.of("always [madvise] never", "[always] madvise never", "always madvise [never]")) {
      Files.writeString(states, state + "\n");
      Process p =
          new ProcessBuilder("sh", script.toString(), "serve").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, p.waitFor(), out);
      assertTrue(out.startsWith("java ") && out.trim().endsWith("tandem.cli.Vlm serve"), out);
      assertEquals(
          !state.contains("[never]"),
          out.contains(" -XX:+UseTransparentHugePages "),
          state + ": " + out);
    }
  }

  /** The launcher's lines from {@code thp=""} to the {@code esac} that closes its case. */
  private static String thpGuard(String launcher) {
    int from = launcher.indexOf("thp=\"\"");
    int to = launcher.indexOf("esac", from);
    assertTrue(from >= 0 && to > from, launcher);
    return launcher.substring(from, to);
  }

  static String line(String prefix) throws IOException {
    return Files.readAllLines(DOCKERFILE).stream()
        .filter(l -> l.startsWith(prefix))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no line starting with " + prefix));
  }
}
