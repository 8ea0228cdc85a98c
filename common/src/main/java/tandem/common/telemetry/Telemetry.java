package tandem.common.telemetry;

import io.grpc.ClientInterceptor;
import io.grpc.ServerInterceptor;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.instrumentation.grpc.v1_6.GrpcTelemetry;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Map;

/**
 * OpenTelemetry for one service process, configured by the standard {@code OTEL_*} environment
 * variables.
 *
 * <p>Tandem's defaults differ from the SDK's in one way: with no OTLP endpoint configured, no
 * exporter is started (the SDK would otherwise retry a collector on localhost forever). Setting
 * {@code OTEL_EXPORTER_OTLP_ENDPOINT} turns on OTLP for traces and metrics; {@code
 * OTEL_TRACES_EXPORTER} / {@code OTEL_METRICS_EXPORTER} override either choice; {@code
 * TANDEM_METRICS_PORT} adds a Prometheus scrape endpoint; {@code OTEL_SDK_DISABLED=true} turns
 * everything off. Exporting is asynchronous (batch processors), so an unreachable collector never
 * slows a request.
 */
public final class Telemetry implements AutoCloseable {
  private final OpenTelemetry otel;
  private final OpenTelemetrySdk sdk;
  private final GrpcTelemetry grpc;

  private Telemetry(OpenTelemetry otel, OpenTelemetrySdk sdk) {
    this.otel = otel;
    this.sdk = sdk;
    this.grpc = GrpcTelemetry.create(otel);
  }

  /** Telemetry that records nothing (tests, benchmarks of the "off" case). */
  public static Telemetry noop() {
    return new Telemetry(OpenTelemetry.noop(), null);
  }

  /**
   * Wraps an SDK built elsewhere, e.g. with an in-memory exporter in tests; closing it shuts the
   * SDK down. Give it the W3C trace-context propagator, or traces stop at every gRPC hop.
   */
  public static Telemetry of(OpenTelemetrySdk sdk) {
    return new Telemetry(sdk, sdk);
  }

  /**
   * Builds from the environment.
   *
   * @param serviceName default {@code service.name} ({@code OTEL_SERVICE_NAME} wins)
   * @param metricsPort Prometheus port, 0 for none
   * @param traceLog when non-null, finished traces are printed there as indented trees
   */
  public static Telemetry fromEnv(
      String serviceName, Map<String, String> env, int metricsPort, PrintStream traceLog) {
    if ("true".equalsIgnoreCase(env.getOrDefault("OTEL_SDK_DISABLED", "false"))) return noop();
    boolean otlp =
        env.containsKey("OTEL_EXPORTER_OTLP_ENDPOINT")
            || env.containsKey("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            || env.containsKey("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    Map<String, String> defaults = new HashMap<>();
    defaults.put("otel.service.name", serviceName);
    defaults.put("otel.traces.exporter", otlp ? "otlp" : "none");
    String metrics = otlp ? "otlp" : "none";
    if (metricsPort > 0) metrics = otlp ? "otlp,prometheus" : "prometheus";
    defaults.put("otel.metrics.exporter", metrics);
    defaults.put("otel.exporter.prometheus.port", Integer.toString(metricsPort));
    defaults.put("otel.logs.exporter", "none");
    // The SDK reads the process environment itself; copying the given map's OTEL_* entries in as
    // properties makes
    // a map other than System.getenv() (tests, benchmarks, the embedded server) configure it the
    // same way.
    env.forEach(
        (k, v) -> {
          if (k.startsWith("OTEL_"))
            defaults.put(k.toLowerCase(java.util.Locale.ROOT).replace('_', '.'), v);
        });
    OpenTelemetrySdk sdk =
        AutoConfiguredOpenTelemetrySdk.builder()
            .addPropertiesSupplier(() -> defaults)
            .addTracerProviderCustomizer(
                (b, cfg) ->
                    traceLog == null ? b : b.addSpanProcessor(new TraceTreePrinter(traceLog)))
            .disableShutdownHook()
            .build()
            .getOpenTelemetrySdk();
    return new Telemetry(sdk, sdk);
  }

  public OpenTelemetry otel() {
    return otel;
  }

  public Tracer tracer(String scope) {
    return otel.getTracer(scope);
  }

  public Meter meter(String scope) {
    return otel.getMeter(scope);
  }

  /** Creates the RPC server span and extracts the caller's trace context from gRPC metadata. */
  public ServerInterceptor serverInterceptor() {
    return grpc.createServerInterceptor();
  }

  /** Creates the RPC client span and injects the trace context into gRPC metadata. */
  public ClientInterceptor clientInterceptor() {
    return grpc.createClientInterceptor();
  }

  /** The current span's trace id, or "" when not tracing. */
  public static String currentTraceId() {
    var ctx = Span.current().getSpanContext();
    return ctx.isValid() ? ctx.getTraceId() : "";
  }

  @Override
  public void close() {
    if (sdk != null) sdk.close();
  }
}
