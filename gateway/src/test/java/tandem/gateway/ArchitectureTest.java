package tandem.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The gateway's layering, read from its sources: the chat pipeline and everything it uses name no
 * transport, only the backend clients hold stubs, and the packages form no cycle through the front
 * doors.
 */
class ArchitectureTest {
  static final Path SRC = Path.of("src/main/java/tandem/gateway");

  static List<Path> sources(String pkg) throws IOException {
    try (Stream<Path> s = Files.walk(SRC.resolve(pkg), 1)) {
      return s.filter(p -> p.toString().endsWith(".java")).toList();
    }
  }

  @Test
  void theDomainNamesNoTransport() throws IOException {
    List<String> offenders = new ArrayList<>();
    for (String pkg :
        List.of("pipeline", "chat", "config", "telemetry", "boxes", "tokenize", "http")) {
      for (Path f : sources(pkg)) {
        for (String line : Files.readAllLines(f)) {
          if (line.startsWith("import io.grpc") || line.startsWith("import tandem.proto")) {
            offenders.add(f + ": " + line);
          }
        }
      }
    }
    for (String f : List.of("limits/GatewayLimits.java", "limits/InputLimits.java")) {
      for (String line : Files.readAllLines(SRC.resolve(f))) {
        if (line.contains("io.grpc")) offenders.add(f + ": " + line);
      }
    }
    assertEquals(List.of(), offenders);
  }

  /**
   * Settings are read in one place ({@code config/GatewaySettings}); the domain and its records
   * take plain values.
   */
  @Test
  void theDomainReadsNoEnvironment() throws IOException {
    List<String> files = new ArrayList<>();
    for (String pkg :
        List.of(
            "pipeline", "chat", "telemetry", "boxes", "tokenize", "http", "limits", "routing")) {
      for (Path f : sources(pkg)) files.add(SRC.relativize(f).toString());
    }
    // TLS and bearer tokens are common's, read from the environment (TlsSettings, BearerTokenAuth)
    // by EdgeSecurity.
    List<String> allowed = List.of("limits/EdgeSecurity.java: import tandem.common.config.Env;");
    List<String> offenders = new ArrayList<>();
    for (String f : files) {
      for (String line : Files.readAllLines(SRC.resolve(f))) {
        boolean reads =
            line.contains("tandem.common.config.ServiceDefaults")
                || line.contains("import tandem.common.config.Env;")
                || line.contains("System.getenv")
                || line.contains("System.getProperty");
        if (reads && !allowed.contains(f + ": " + line)) offenders.add(f + ": " + line);
      }
    }
    assertEquals(List.of(), offenders);
  }

  @Test
  void onlyTheBackendClientsMakeStubs() throws IOException {
    List<String> makers = new ArrayList<>();
    try (Stream<Path> s = Files.walk(SRC)) {
      for (Path f : s.filter(p -> p.toString().endsWith(".java")).toList()) {
        String text = Files.readString(f);
        if (text.matches("(?s).*Grpc\\.new(Future|Blocking)?Stub\\(.*"))
          makers.add(SRC.relativize(f).toString());
      }
    }
    assertEquals(
        List.of("backend/DecoderClient.java", "backend/VisionClient.java"),
        makers.stream().sorted().toList());
  }

  @Test
  void theFrontDoorsDependOnThePipelineNeverTheOtherWayRound() throws IOException {
    for (String pkg :
        List.of("pipeline", "limits", "telemetry", "config", "backend", "grpc", "http")) {
      for (Path f : sources(pkg)) {
        String text = Files.readString(f);
        assertTrue(
            !text.contains("import tandem.gateway.FrontDoors;")
                && !text.contains("import tandem.gateway.GatewayServer;"),
            f + " reaches back into the wiring");
        if (!pkg.equals("grpc")) {
          assertTrue(
              !text.contains("import tandem.gateway.grpc."), f + " depends on the gRPC door");
        }
        if (!pkg.equals("http")) {
          assertTrue(
              !text.contains("import tandem.gateway.http."), f + " depends on the HTTP door");
        }
      }
    }
  }
}
