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
    try (Telemetry t =
        Telemetry.fromEnv(
            "test-svc", Map.of(), 0, new PrintStream(buf, true, StandardCharsets.UTF_8))) {
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
    assertTrue(
        lines[2].startsWith("    embed ") && lines[2].contains("vision.tiles=7"),
        String.join("\n", lines));
  }

  @Test
  void disabledSdkRecordsNothing() {
    try (Telemetry t = Telemetry.fromEnv("x", Map.of("OTEL_SDK_DISABLED", "true"), 0, null)) {
      Span s = t.tracer("x").spanBuilder("a").startSpan();
      assertFalse(s.getSpanContext().isValid());
      s.end();
    }
  }

  @Test
  void aTraceIsPrintedOnceWholeEvenWhenAnInProcessBackendSpanHasARemoteParentOrEndsLast() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (Telemetry t =
        Telemetry.fromEnv(
            "test-svc", Map.of(), 0, new PrintStream(buf, true, StandardCharsets.UTF_8))) {
      var tracer = t.tracer("test");
      Span root = tracer.spanBuilder("chat").startSpan();
      // What the gRPC interceptors do in one process: inject on the client, extract on the server
      // (remote parent).
      Map<String, String> carrier = new java.util.HashMap<>();
      var propagator =
          io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator.getInstance();
      var setter =
          (io.opentelemetry.context.propagation.TextMapSetter<Map<String, String>>) Map::put;
      propagator.inject(io.opentelemetry.context.Context.root().with(root), carrier, setter);
      var remote =
          propagator.extract(
              io.opentelemetry.context.Context.root(),
              carrier,
              new io.opentelemetry.context.propagation.TextMapGetter<Map<String, String>>() {
                @Override
                public Iterable<String> keys(Map<String, String> c) {
                  return c.keySet();
                }

                @Override
                public String get(Map<String, String> c, String key) {
                  return c == null ? null : c.get(key);
                }
              });
      Span embed = tracer.spanBuilder("embed").setParent(remote).startSpan();
      embed.end(); // a remote-parent span ending first must not print half a trace
      Span late =
          tracer
              .spanBuilder("generate")
              .setParent(io.opentelemetry.context.Context.root().with(root))
              .startSpan();
      root.end();
      late.end(); // e.g. a backend's RPC server span finishing after the client saw the call end
    }
    String out = buf.toString(StandardCharsets.UTF_8);
    assertEquals(1, out.split("trace ", -1).length - 1, out);
    assertTrue(
        out.contains("\n  chat ")
            && out.contains("\n    embed ")
            && out.contains("\n    generate "),
        out);
  }

  @Test
  void otelVariablesInTheGivenMapConfigureTheSdk() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (Telemetry t =
        Telemetry.fromEnv(
            "x",
            Map.of("OTEL_TRACES_SAMPLER", "always_off"),
            0,
            new PrintStream(buf, true, StandardCharsets.UTF_8))) {
      Span s = t.tracer("x").spanBuilder("a").startSpan();
      assertFalse(s.isRecording(), "always_off from the map was applied");
      s.end();
    }
    assertEquals("", buf.toString(StandardCharsets.UTF_8));
  }

  @Test
  void anUnreachableCollectorNeitherSlowsNorBreaksSpans() {
    // Port 9 (discard) on loopback: nothing listens, every export fails with "connection refused".
    long t0 = System.nanoTime();
    long spanNanos;
    try (Telemetry t =
        Telemetry.fromEnv(
            "x",
            Map.of(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://127.0.0.1:9",
                "OTEL_BSP_SCHEDULE_DELAY",
                "1",
                "OTEL_METRIC_EXPORT_INTERVAL",
                "10",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "500"),
            0,
            null)) {
      var tracer = t.tracer("x");
      var hist = t.meter("x").histogramBuilder("h").build();
      long s0 = System.nanoTime();
      for (int i = 0; i < 20_000; i++) {
        Span s = tracer.spanBuilder("a").startSpan();
        assertTrue(s.isRecording(), "tracing is on");
        hist.record(i);
        s.end();
      }
      spanNanos = System.nanoTime() - s0;
    }
    // 20k spans in well under a second even while exports fail (they are queued, dropped when full,
    // never awaited).
    assertTrue(spanNanos < 2_000_000_000L, "20k spans took " + spanNanos / 1e6 + " ms");
    assertTrue(
        System.nanoTime() - t0 < 20_000_000_000L, "shutdown with a dead collector is bounded");
  }

  @Test
  void prometheusScrapesTheGenAiHistogramsOnTheMetricsPort() throws Exception {
    int port;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      port = free.getLocalPort();
    }
    try (Telemetry t = Telemetry.fromEnv("scrape-svc", Map.of(), port, null)) {
      t.meter("x")
          .histogramBuilder("gen_ai.server.time_to_first_token")
          .setUnit("s")
          .build()
          .record(0.25);
      var client = java.net.http.HttpClient.newHttpClient();
      var resp =
          client.send(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create("http://127.0.0.1:" + port + "/metrics"))
                  .build(),
              java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(200, resp.statusCode());
      assertTrue(
          resp.body().contains("gen_ai_server_time_to_first_token_seconds_count"), resp.body());
      assertTrue(
          resp.body().contains("gen_ai_server_time_to_first_token_seconds_sum"), resp.body());
    }
  }

  /**
   * The Prometheus names the Helm chart's autoscaling queries (Prometheus Adapter rules, KEDA
   * triggers) are written against: decoder queue length, decoder KV cache usage and vision queued
   * tiles, as this exporter spells them.
   */
  @Test
  void theAutoscalingSignalsHaveThePrometheusNamesTheChartQueries() throws Exception {
    int port;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      port = free.getLocalPort();
    }
    try (Telemetry t = Telemetry.fromEnv("scrape-svc", Map.of(), port, null)) {
      var m = t.meter("x");
      m.upDownCounterBuilder("decoder.queue.length")
          .setUnit("{request}")
          .buildWithCallback(r -> r.record(3));
      m.gaugeBuilder("decoder.kv_cache.usage").setUnit("1").buildWithCallback(r -> r.record(0.5));
      m.upDownCounterBuilder("vision.queue.tiles")
          .setUnit("{tile}")
          .buildWithCallback(r -> r.record(7));
      var client = java.net.http.HttpClient.newHttpClient();
      var resp =
          client.send(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create("http://127.0.0.1:" + port + "/metrics"))
                  .build(),
              java.net.http.HttpResponse.BodyHandlers.ofString());
      String body = resp.body();
      assertTrue(
          java.util.regex.Pattern.compile("(?m)^decoder_queue_length\\{[^}]*\\} 3(\\.0)?$")
              .matcher(body)
              .find(),
          body);
      assertTrue(
          java.util.regex.Pattern.compile("(?m)^decoder_kv_cache_usage\\{[^}]*\\} 0\\.5$")
              .matcher(body)
              .find(),
          body);
      assertTrue(
          java.util.regex.Pattern.compile("(?m)^vision_queue_tiles\\{[^}]*\\} 7(\\.0)?$")
              .matcher(body)
              .find(),
          body);
    }
  }
}
