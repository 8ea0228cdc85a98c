package tandem.cli;

import io.opentelemetry.context.Scope;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.generate.FinishReason;
import tandem.decoder.generate.GenerationListener;
import tandem.decoder.generate.GenerationRequest;
import tandem.decoder.generate.GenerationResult;
import tandem.decoder.generate.GenerationSettings;
import tandem.decoder.generate.SchedulerMetrics;
import tandem.decoder.telemetry.DecoderTelemetry;
import tandem.gateway.telemetry.ChatTelemetry;
import tandem.gateway.telemetry.ChatTrace;
import tandem.vision.telemetry.EmbedTrace;

/**
 * The fixed cost per chat of Tandem's own telemetry code (chat span with stage children and GenAI
 * metrics, embed span with stages, generate span with queue/prefill/decode and histograms), without
 * the model: the part of the tracing overhead that does not drown in machine noise. The gRPC
 * interceptors' RPC spans (three server, two client) are not included; TracingOverheadBench
 * measures everything end to end.
 *
 * <p>Run: {@code java -cp <test classpath> tandem.cli.TelemetryPathBench [iterations]}.
 */
public final class TelemetryPathBench {
  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    for (String mode : List.of("off", "on", "off", "on")) {
      Map<String, String> env =
          mode.equals("off")
              ? Map.of("OTEL_SDK_DISABLED", "true")
              : Map.of(
                  "OTEL_EXPORTER_OTLP_ENDPOINT",
                  "http://127.0.0.1:9",
                  "OTEL_EXPORTER_OTLP_TIMEOUT",
                  "500");
      try (Telemetry t = Telemetry.fromEnv("bench", env, 0, null)) {
        double us = run(t, n);
        System.out.printf(Locale.ROOT, "%s: %.2f us per chat (%d chats)%n", mode, us, n);
      }
    }
  }

  static double run(Telemetry t, int n) {
    ChatTelemetry chat = ChatTelemetry.create(t, "bench-model");
    SchedulerMetrics sm = new SchedulerMetrics(0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, null);
    DecoderTelemetry dec = DecoderTelemetry.create(t, () -> sm);
    var visionTracer = t.tracer(EmbedTrace.SCOPE);
    GenerationRequest gr =
        new GenerationRequest(
            "r",
            new int[] {1, 2, 3},
            new float[0],
            7,
            new GenerationSettings(64, 0, 0, 1f, false, 0f, 0, 1f, 0, new int[] {2}));
    GenerationListener sink =
        new GenerationListener() {
          @Override
          public void onToken(int id) {}

          @Override
          public void onFinish(GenerationResult r) {}
        };
    GenerationResult result =
        new GenerationResult(FinishReason.LENGTH, 3, 64, 5, 300, 0.1, 4, 250, 290, "");
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      long s = System.nanoTime();
      ChatTrace trace = chat.start("r", 1, null, null, null, null, null);
      try (Scope ignored = trace.visionScope()) {
        EmbedTrace et = EmbedTrace.start(visionTracer);
        et.stage("cache", s, s + 10);
        et.stage("preprocess", s + 10, s + 20);
        et.stage("forward", s + 20, s + 30);
        et.finish(1, 1, 1, 0);
      }
      trace.visionDone(5, false, 0, 0, "m");
      trace.tokenize("text", s, s + 5);
      trace.tokenize("expanded", s + 5, s + 9);
      try (Scope ignored = trace.decodeScope()) {
        GenerationListener l = dec.listen(gr, sink);
        for (int k = 0; k < 64; k++) l.onToken(k);
        l.onFinish(result);
      }
      trace.firstToken(s + 100);
      trace.finish("length", 3, 0, 64, 0, s + 100, s + 1000, 500, "");
    }
    double us = (System.nanoTime() - t0) / 1e3 / n;
    dec.close();
    return us;
  }
}
