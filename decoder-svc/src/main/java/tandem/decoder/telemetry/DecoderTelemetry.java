package tandem.decoder.telemetry;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;
import tandem.common.telemetry.Telemetry;
import tandem.common.telemetry.Timeline;
import tandem.decoder.generate.FinishReason;
import tandem.decoder.generate.GenerationListener;
import tandem.decoder.generate.GenerationRequest;
import tandem.decoder.generate.GenerationResult;
import tandem.decoder.generate.SchedulerMetrics;

/**
 * Tracing and metrics of decoder-svc without touching the scheduler's loop. A request's {@code
 * generate} span is started on the gRPC thread when it arrives (so it joins the caller's trace);
 * the listener wrapper passes tokens straight through and, once, when the sequence ends, creates
 * the {@code queue}, {@code prefill} and {@code decode} children from the timings the scheduler
 * measured anyway and records the histograms. Nothing happens per token or per decode step.
 * Scheduler state (active sequences, queue length, KV cache use) is read by observable gauges only
 * when a metric reader collects.
 */
public final class DecoderTelemetry implements AutoCloseable {
  public static final String SCOPE = "tandem.decoder";
  public static final AttributeKey<Long> INPUT_TOKENS =
      AttributeKey.longKey("gen_ai.usage.input_tokens");
  public static final AttributeKey<Long> OUTPUT_TOKENS =
      AttributeKey.longKey("gen_ai.usage.output_tokens");
  public static final AttributeKey<String> FINISH_REASON =
      AttributeKey.stringKey("decoder.finish_reason");
  public static final AttributeKey<Long> IMAGE_TOKENS =
      AttributeKey.longKey("decoder.image_tokens");
  public static final AttributeKey<Long> MAX_NEW_TOKENS =
      AttributeKey.longKey("gen_ai.request.max_tokens");

  /**
   * Prompt tokens whose KV came from the prefix cache (OpenAI:
   * prompt_tokens_details.cached_tokens).
   */
  public static final AttributeKey<Long> CACHED_TOKENS =
      AttributeKey.longKey("gen_ai.usage.cache_read_input_tokens");

  static final AttributeKey<String> KV_STATE = AttributeKey.stringKey("state");
  static final AttributeKey<String> REASON_METRIC = AttributeKey.stringKey("decoder.finish_reason");

  private final Tracer tracer;
  private final DoubleHistogram queueWait;
  private final DoubleHistogram prefill;
  private final DoubleHistogram timePerToken;
  private final List<AutoCloseable> gauges = new ArrayList<>();

  private DecoderTelemetry(Telemetry telemetry) {
    this.tracer = telemetry.tracer(SCOPE);
    Meter m = telemetry.meter(SCOPE);
    this.queueWait =
        m.histogramBuilder("decoder.queue.duration")
            .setUnit("s")
            .setDescription("Time a request waited for a KV slot before its prefill")
            .build();
    this.prefill =
        m.histogramBuilder("decoder.prefill.duration")
            .setUnit("s")
            .setDescription("Prefill time of one request (prompt forward, image rows spliced in)")
            .build();
    this.timePerToken =
        m.histogramBuilder("decoder.time_per_output_token")
            .setUnit("s")
            .setDescription(
                "Decode time per token after the first, per request, as the scheduler measured it")
            .build();
  }

  /** No tracing, no metrics. */
  public static DecoderTelemetry noop() {
    return new DecoderTelemetry(Telemetry.noop());
  }

  /**
   * Instruments on {@code telemetry}, with gauges reading {@code metrics} (usually {@code
   * scheduler::metrics}). Close to unregister the gauges.
   */
  public static DecoderTelemetry create(Telemetry telemetry, Supplier<SchedulerMetrics> metrics) {
    DecoderTelemetry d = new DecoderTelemetry(telemetry);
    Meter m = telemetry.meter(SCOPE);
    d.gauges.add(
        m.upDownCounterBuilder("decoder.sequences.active")
            .setUnit("{sequence}")
            .setDescription("Sequences holding a KV slot (prefilling or decoding)")
            .buildWithCallback(r -> r.record(metrics.get().activeSequences())));
    d.gauges.add(
        m.upDownCounterBuilder("decoder.queue.length")
            .setUnit("{request}")
            .setDescription("Requests waiting for a KV slot")
            .buildWithCallback(r -> r.record(metrics.get().queuedRequests())));
    d.gauges.add(
        m.upDownCounterBuilder("decoder.kv_cache.tokens")
            .setUnit("{token}")
            .setDescription("Tokens held in KV cache slots")
            .buildWithCallback(r -> r.record(metrics.get().kvTokensInUse())));
    d.gauges.add(
        m.upDownCounterBuilder("decoder.kv_cache.capacity")
            .setUnit("{token}")
            .setDescription(
                "KV cache capacity in tokens: the block budget (or slots x tokens per slot when not"
                    + " paged)")
            .buildWithCallback(r -> r.record(metrics.get().kvTokensCapacity())));
    d.gauges.add(
        m.gaugeBuilder("decoder.kv_cache.usage")
            .setUnit("1")
            .setDescription("Share of the KV cache in use (0-1)")
            .buildWithCallback(
                r -> {
                  SchedulerMetrics s = metrics.get();
                  r.record(
                      s.kvTokensCapacity() == 0
                          ? 0
                          : (double) s.kvTokensInUse() / s.kvTokensCapacity());
                }));
    d.gauges.add(
        m.upDownCounterBuilder("decoder.kv_cache.blocks")
            .setUnit("{block}")
            .setDescription(
                "Paged KV cache blocks by state: used (held by sequences), cached (kept for prefix"
                    + " reuse, evictable), free (never used or freed), capacity (the budget)")
            .buildWithCallback(
                r -> {
                  var kv = metrics.get().kv();
                  if (kv == null) return;
                  r.record(kv.usedBlocks(), Attributes.of(KV_STATE, "used"));
                  r.record(kv.cachedBlocks(), Attributes.of(KV_STATE, "cached"));
                  r.record(
                      kv.availableBlocks() - kv.cachedBlocks(), Attributes.of(KV_STATE, "free"));
                  r.record(kv.capacityBlocks(), Attributes.of(KV_STATE, "capacity"));
                }));
    d.gauges.add(
        m.upDownCounterBuilder("decoder.kv_cache.bytes")
            .setUnit("By")
            .setDescription(
                "Paged KV cache bytes: allocated (arrays held, at most the budget), used, budget")
            .buildWithCallback(
                r -> {
                  var kv = metrics.get().kv();
                  if (kv == null) return;
                  r.record(kv.bytesAllocated(), Attributes.of(KV_STATE, "allocated"));
                  r.record(kv.usedBlocks() * kv.blockBytes(), Attributes.of(KV_STATE, "used"));
                  r.record(
                      kv.capacityBlocks() * kv.blockBytes(), Attributes.of(KV_STATE, "capacity"));
                }));
    d.gauges.add(
        m.counterBuilder("decoder.prefix_cache.hit_tokens")
            .setUnit("{token}")
            .setDescription("Prompt tokens taken from the prefix cache instead of computed")
            .buildWithCallback(r -> r.record(metrics.get().cachedPromptTokens())));
    d.gauges.add(
        m.counterBuilder("decoder.preemptions")
            .setUnit("{sequence}")
            .setDescription(
                "Sequences preempted (KV freed, queued again to be recomputed) because the KV"
                    + " budget was full")
            .buildWithCallback(r -> r.record(metrics.get().preemptions())));
    d.gauges.add(
        m.counterBuilder("decoder.tokens.generated")
            .setUnit("{token}")
            .setDescription("Tokens generated, all sequences")
            .buildWithCallback(r -> r.record(metrics.get().tokensGenerated())));
    d.gauges.add(
        m.counterBuilder("decoder.steps")
            .setUnit("{step}")
            .setDescription("Batched decode steps run")
            .buildWithCallback(r -> r.record(metrics.get().decodeSteps())));
    return d;
  }

  /**
   * Starts the request's {@code generate} span under the current context (call on the gRPC thread,
   * where the server interceptor made the RPC span current) and wraps {@code sink} so the span and
   * its children are finished when the sequence ends. Hand the returned listener to the scheduler.
   */
  public GenerationListener listen(GenerationRequest request, GenerationListener sink) {
    long arrival = System.nanoTime();
    Span span = tracer.spanBuilder("generate").startSpan();
    Timeline timeline = span.isRecording() ? Timeline.start() : null;
    if (timeline != null) {
      long imageTokens = 0;
      for (int id : request.inputIds()) if (id == request.imageTokenId()) imageTokens++;
      span.setAttribute(IMAGE_TOKENS, imageTokens);
      span.setAttribute(MAX_NEW_TOKENS, request.settings().maxNewTokens());
      span.setAttribute("decoder.request_id", request.requestId());
    }
    return new Traced(sink, span, timeline, arrival);
  }

  /**
   * Passes tokens through untouched; finishes the trace and records metrics once, at the end. Also
   * ends the span when the scheduler rejects the request (see {@link #rejected}).
   */
  private final class Traced implements GenerationListener {
    private final GenerationListener sink;
    private final Span span;
    private final Timeline timeline;
    private final long arrival;

    Traced(GenerationListener sink, Span span, Timeline timeline, long arrival) {
      this.sink = sink;
      this.span = span;
      this.timeline = timeline;
      this.arrival = arrival;
    }

    @Override
    public void onToken(int id) {
      sink.onToken(id);
    }

    @Override
    public void onFinish(GenerationResult r) {
      try {
        record(r);
      } finally {
        sink.onFinish(r);
      }
    }

    private void record(GenerationResult r) {
      long end = System.nanoTime();
      String reason = r.reason().name().toLowerCase(Locale.ROOT);
      Attributes a = Attributes.of(REASON_METRIC, reason);
      if (r.reason() != FinishReason.CANCELLED || r.prefillMs() > 0) {
        queueWait.record(r.queueMs() / 1e3, a);
      }
      if (r.prefillMs() > 0) prefill.record(r.prefillMs() / 1e3, a);
      if (r.generatedTokens() > 1)
        timePerToken.record(r.decodeMs() / 1e3 / (r.generatedTokens() - 1), a);
      if (timeline == null) {
        span.end();
        return;
      }
      Context parent = Context.root().with(span);
      long admitted = arrival + ms(r.queueMs());
      timeline.stage(tracer, "queue", parent, arrival, admitted);
      if (r.prefillMs() > 0)
        timeline.stage(tracer, "prefill", parent, admitted, admitted + ms(r.prefillMs()));
      if (r.generatedTokens() > 0) {
        long first = arrival + ms(r.timeToFirstTokenMs());
        Span d = timeline.open(tracer, "decode", parent, first);
        d.setAttribute(OUTPUT_TOKENS, r.generatedTokens());
        d.setAttribute("decoder.step_model_ms", r.stepModelMs());
        d.setAttribute("decoder.step_total_ms", r.stepTotalMs());
        timeline.end(d, first + ms(r.decodeMs()));
      }
      span.setAttribute(INPUT_TOKENS, r.promptTokens());
      span.setAttribute(OUTPUT_TOKENS, r.generatedTokens());
      span.setAttribute(FINISH_REASON, reason);
      span.setAttribute(CACHED_TOKENS, r.cachedPromptTokens());
      span.setAttribute("decoder.time_to_first_token_ms", r.timeToFirstTokenMs());
      if (r.reason() == FinishReason.ERROR) span.setStatus(StatusCode.ERROR, r.error());
      timeline.end(span, end);
    }
  }

  /** Ends the span of a request the scheduler refused (it never reaches {@code onFinish}). */
  public void rejected(GenerationListener listener, Exception why) {
    if (listener instanceof Traced t) {
      if (t.timeline != null) {
        t.span.setStatus(StatusCode.ERROR, why.getMessage());
        t.span.recordException(why);
      }
      t.span.end();
    }
  }

  private static long ms(double millis) {
    return (long) (millis * 1e6);
  }

  @Override
  public void close() {
    for (AutoCloseable g : gauges) {
      try {
        g.close();
      } catch (Exception ignored) {
        // a gauge that fails to unregister only keeps reporting
      }
    }
  }
}
