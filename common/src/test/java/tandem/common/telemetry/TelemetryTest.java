package tandem.common.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Scope;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TelemetryTest {
  @Test
  void traceLogPrintsAFinishedTraceAsAnIndentedTree() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (Telemetry t = Telemetry.fromEnv("test-svc", Map.of(), 0, new PrintStream(buf, true, StandardCharsets.UTF_8))) {
      var tracer = t.tracer("test");
      Span root = tracer.spanBuilder("chat").startSpan();
      try (Scope ignored = root.makeCurrent()) {
        Span child = tracer.spanBuilder("embed").setAttribute("vision.tiles", 7L).startSpan();
        child.end();
        assertEquals(root.getSpanContext().getTraceId(), Telemetry.currentTraceId());
      }
      root.end();
    }
    String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
    assertTrue(lines[0].startsWith("trace "), lines[0]);
    assertTrue(lines[1].startsWith("  chat "), lines[1]);
    assertTrue(lines[2].startsWith("    embed ") && lines[2].contains("vision.tiles=7"), String.join("\n", lines));
  }

  @Test
  void disabledSdkRecordsNothing() {
    try (Telemetry t = Telemetry.fromEnv("x", Map.of("OTEL_SDK_DISABLED", "true"), 0, null)) {
      Span s = t.tracer("x").spanBuilder("a").startSpan();
      assertFalse(s.getSpanContext().isValid());
      s.end();
    }
  }
}
