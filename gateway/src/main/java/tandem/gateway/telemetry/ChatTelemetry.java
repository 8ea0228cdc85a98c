package tandem.gateway.telemetry;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import java.util.List;
import tandem.common.telemetry.Telemetry;

/**
 * The gateway's tracing and GenAI metrics. {@link #start} opens one chat's {@code chat} span
 * (OpenTelemetry GenAI semantic conventions: {@code gen_ai.operation.name}, {@code
 * gen_ai.request.*}, later {@code gen_ai.response.finish_reasons} and {@code gen_ai.usage.*}); the
 * returned {@link ChatTrace} adds the stage children and records {@code
 * gen_ai.server.time_to_first_token}, {@code gen_ai.server.time_per_output_token} and {@code
 * gen_ai.server.request.duration} (histograms, seconds) as the chat proceeds.
 */
public final class ChatTelemetry {
  public static final String SCOPE = "tandem.gateway";
  public static final AttributeKey<String> OPERATION =
      AttributeKey.stringKey("gen_ai.operation.name");
  public static final AttributeKey<String> PROVIDER =
      AttributeKey.stringKey("gen_ai.provider.name");
  public static final AttributeKey<String> REQUEST_MODEL =
      AttributeKey.stringKey("gen_ai.request.model");
  public static final AttributeKey<String> RESPONSE_MODEL =
      AttributeKey.stringKey("gen_ai.response.model");
  public static final AttributeKey<String> RESPONSE_ID =
      AttributeKey.stringKey("gen_ai.response.id");
  public static final AttributeKey<Long> MAX_TOKENS =
      AttributeKey.longKey("gen_ai.request.max_tokens");
  public static final AttributeKey<Double> TEMPERATURE =
      AttributeKey.doubleKey("gen_ai.request.temperature");
  public static final AttributeKey<Double> TOP_P = AttributeKey.doubleKey("gen_ai.request.top_p");
  public static final AttributeKey<Long> TOP_K = AttributeKey.longKey("gen_ai.request.top_k");
  public static final AttributeKey<Long> SEED = AttributeKey.longKey("gen_ai.request.seed");
  public static final AttributeKey<List<String>> FINISH_REASONS =
      AttributeKey.stringArrayKey("gen_ai.response.finish_reasons");
  public static final AttributeKey<Long> INPUT_TOKENS =
      AttributeKey.longKey("gen_ai.usage.input_tokens");
  public static final AttributeKey<Long> OUTPUT_TOKENS =
      AttributeKey.longKey("gen_ai.usage.output_tokens");
  public static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");

  /** Custom: no convention counts the image placeholder tokens within the input tokens. */
  public static final AttributeKey<Long> IMAGE_TOKENS =
      AttributeKey.longKey("tandem.usage.image_tokens");

  public static final AttributeKey<Long> IMAGES = AttributeKey.longKey("tandem.request.images");
  public static final AttributeKey<Long> BOXES = AttributeKey.longKey("tandem.response.boxes");
  public static final String PROVIDER_NAME = "tandem";

  final Tracer tracer;
  final String model;
  final DoubleHistogram ttft;
  final DoubleHistogram tpot;
  final DoubleHistogram duration;
  final Attributes metricAttributes;

  private ChatTelemetry(Telemetry telemetry, String model) {
    this.tracer = telemetry.tracer(SCOPE);
    this.model = model;
    Meter m = telemetry.meter(SCOPE);
    // Bucket boundaries from the GenAI semantic conventions (the SDK's defaults are in
    // milliseconds-sized steps).
    this.ttft =
        m.histogramBuilder("gen_ai.server.time_to_first_token")
            .setUnit("s")
            .setDescription(
                "Time from the chat request to its first generated token (vision and prefill"
                    + " included)")
            .setExplicitBucketBoundariesAdvice(
                List.of(
                    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                    7.5, 10.0))
            .build();
    this.tpot =
        m.histogramBuilder("gen_ai.server.time_per_output_token")
            .setUnit("s")
            .setDescription("Time per generated token after the first, per chat")
            .setExplicitBucketBoundariesAdvice(
                List.of(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5))
            .build();
    this.duration =
        m.histogramBuilder("gen_ai.server.request.duration")
            .setUnit("s")
            .setDescription("Whole chat, request to final chunk")
            .setExplicitBucketBoundariesAdvice(
                List.of(
                    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
                    81.92))
            .build();
    this.metricAttributes =
        Attributes.of(OPERATION, "chat", REQUEST_MODEL, model, PROVIDER, PROVIDER_NAME);
  }

  /** Records nothing; {@link ChatTrace#traceId()} is "". */
  public static ChatTelemetry noop() {
    return new ChatTelemetry(Telemetry.noop(), "");
  }

  /**
   * @param model the served model's name ({@code gen_ai.request.model}), e.g. the checkpoint folder
   *     name
   */
  public static ChatTelemetry create(Telemetry telemetry, String model) {
    return new ChatTelemetry(telemetry, model);
  }

  /**
   * Starts the {@code chat} span under the current context (the RPC server span inside a gRPC
   * handler) with the request's attributes (the parameters the client set; null when not). Call on
   * the thread of the client's call.
   */
  public ChatTrace start(
      String requestId,
      int images,
      Integer maxTokens,
      Float temperature,
      Float topP,
      Integer topK,
      Long seed) {
    long t0 = System.nanoTime();
    Span span = tracer.spanBuilder("chat").setSpanKind(SpanKind.INTERNAL).startSpan();
    if (span.isRecording()) {
      span.setAttribute(OPERATION, "chat");
      span.setAttribute(PROVIDER, PROVIDER_NAME);
      span.setAttribute(REQUEST_MODEL, model);
      span.setAttribute(RESPONSE_ID, requestId);
      span.setAttribute(IMAGES, images);
      if (maxTokens != null) span.setAttribute(MAX_TOKENS, maxTokens);
      if (temperature != null) span.setAttribute(TEMPERATURE, exact(temperature));
      if (topP != null) span.setAttribute(TOP_P, exact(topP));
      if (topK != null) span.setAttribute(TOP_K, topK);
      if (seed != null) span.setAttribute(SEED, seed);
    }
    return new ChatTrace(this, span, t0);
  }

  /** The float as written (0.7f gives 0.7, not 0.699999988). */
  static double exact(float f) {
    return Double.parseDouble(Float.toString(f));
  }
}
