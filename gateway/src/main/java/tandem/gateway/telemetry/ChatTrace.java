package tandem.gateway.telemetry;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import tandem.common.error.Rejection;
import tandem.common.telemetry.Telemetry;
import tandem.common.telemetry.Timeline;

/**
 * One chat's trace: the {@code chat} span and its children {@code tokenize} (text, then the
 * image-expanded prompt), {@code vision} (the Embed client span nests under it), {@code decode}
 * (the Generate client span nests under it) with {@code parse} (box parsing, the sum of its
 * incremental pieces, placed at the end of decode). Ends exactly once: on the final chunk, an
 * error, or the client's cancel. Thread-safe: gRPC callbacks of the backend calls and the cancel
 * handler may run on different threads.
 */
public final class ChatTrace {
  private final ChatTelemetry t;
  private final Span chat;
  private final Context chatContext;
  private final Timeline timeline;
  private final long t0;
  private final String traceId;
  private final AtomicBoolean ended = new AtomicBoolean();
  private final AtomicBoolean firstToken = new AtomicBoolean();
  private volatile Span vision;
  private volatile Span decode;
  private volatile long decodeStart;

  ChatTrace(ChatTelemetry t, Span chat, long t0) {
    this.t = t;
    this.chat = chat;
    this.t0 = t0;
    boolean on = chat.isRecording();
    // A gateway built without ChatTelemetry still reports the trace its RPC server span belongs to.
    var own = chat.getSpanContext();
    this.traceId = own.isValid() && own.isSampled() ? own.getTraceId() : Telemetry.currentTraceId();
    this.chatContext = on ? Context.current().with(chat) : null;
    this.timeline = on ? Timeline.start() : null;
  }

  /** The W3C trace id ("" when this chat is not traced). */
  public String traceId() {
    return traceId;
  }

  /** A {@code tokenize} child between two {@link System#nanoTime()} readings. */
  public void tokenize(String part, long startNanoTime, long endNanoTime) {
    if (timeline == null) return;
    Span s = timeline.open(t.tracer, "tokenize", chatContext, startNanoTime);
    s.setAttribute("tandem.tokenize.part", part);
    timeline.end(s, endNanoTime);
  }

  /**
   * Opens {@code vision} and makes it current: make the Embed call inside the returned scope so its
   * client span nests under it, then report how it went with {@link #visionDone} or {@link
   * #visionFailed}.
   */
  public Scope visionScope() {
    if (timeline == null) return Scope.noop();
    vision = t.tracer.spanBuilder("vision").setParent(chatContext).startSpan();
    return vision.makeCurrent();
  }

  /** Ends {@code vision} with its cache and tile counts. */
  public void visionDone(
      long tiles, boolean allHit, double preprocessMs, double encodeMs, String modelId) {
    Span v = vision;
    if (v == null) return;
    v.setAttribute("vision.cache.hit", allHit);
    v.setAttribute("vision.tiles", tiles);
    v.setAttribute("vision.preprocess_ms", preprocessMs);
    v.setAttribute("vision.encode_ms", encodeMs);
    if (!modelId.isEmpty()) chat.setAttribute(ChatTelemetry.RESPONSE_MODEL, modelId);
    v.end();
  }

  /** Ends {@code vision} as failed, with the failure's code. */
  public void visionFailed(String code) {
    Span v = vision;
    if (v == null) return;
    v.setStatus(StatusCode.ERROR, code);
    v.end();
  }

  /**
   * Opens {@code decode} and makes it current: start the Generate call inside the returned scope.
   */
  public Scope decodeScope() {
    decodeStart = System.nanoTime();
    if (timeline == null) return Scope.noop();
    decode = t.tracer.spanBuilder("decode").setParent(chatContext).startSpan();
    return decode.makeCurrent();
  }

  /** The first generated token arrived: records {@code gen_ai.server.time_to_first_token} once. */
  public void firstToken(long nanoTime) {
    if (firstToken.compareAndSet(false, true))
      t.ttft.record((nanoTime - t0) / 1e9, t.metricAttributes);
  }

  /**
   * Ends the chat with its final chunk (which is being sent).
   *
   * @param reason "stop", "length", "cancelled" or "error"
   * @param firstTokenNanoTime / lastTokenNanoTime when the first / last tokens arrived, -1 if none
   * @param parseNanos time spent in box parsing, summed
   */
  public void finish(
      String reason,
      int inputTokens,
      int imageTokens,
      int outputTokens,
      int boxes,
      long firstTokenNanoTime,
      long lastTokenNanoTime,
      long parseNanos,
      String error) {
    if (!ended.compareAndSet(false, true)) return;
    long end = System.nanoTime();
    String why = reason;
    boolean failed = "error".equals(reason);
    Attributes ma =
        failed
            ? t.metricAttributes.toBuilder().put(ChatTelemetry.ERROR_TYPE, "decode").build()
            : t.metricAttributes;
    t.duration.record((end - t0) / 1e9, ma);
    if (outputTokens > 1 && firstTokenNanoTime >= 0 && lastTokenNanoTime > firstTokenNanoTime) {
      t.tpot.record(
          (lastTokenNanoTime - firstTokenNanoTime) / 1e9 / (outputTokens - 1), t.metricAttributes);
    }
    if (timeline == null) {
      chat.end();
      return;
    }
    Span d = decode;
    if (d != null) {
      if (parseNanos > 0)
        timeline.stage(t.tracer, "parse", Context.root().with(d), end - parseNanos, end);
      d.setAttribute(ChatTelemetry.OUTPUT_TOKENS, outputTokens);
      if (failed) d.setStatus(StatusCode.ERROR, error);
      timeline.end(d, end);
    }
    chat.setAttribute(ChatTelemetry.FINISH_REASONS, List.of(why));
    chat.setAttribute(ChatTelemetry.INPUT_TOKENS, inputTokens);
    chat.setAttribute(ChatTelemetry.IMAGE_TOKENS, imageTokens);
    chat.setAttribute(ChatTelemetry.OUTPUT_TOKENS, outputTokens);
    chat.setAttribute(ChatTelemetry.BOXES, boxes);
    if (failed) {
      chat.setAttribute(ChatTelemetry.ERROR_TYPE, "decode");
      chat.setStatus(StatusCode.ERROR, error);
    }
    timeline.end(chat, end);
  }

  /** Ends the chat as failed before a final chunk (a bad request, a backend error). */
  public void fail(Throwable e) {
    if (!ended.compareAndSet(false, true)) return;
    String type = e instanceof Rejection r ? r.kind().code() : "INTERNAL";
    String description = e.getMessage();
    t.duration.record(
        (System.nanoTime() - t0) / 1e9,
        t.metricAttributes.toBuilder().put(ChatTelemetry.ERROR_TYPE, type).build());
    if (timeline == null) {
      chat.end();
      return;
    }
    Span d = decode;
    if (d != null) {
      d.setStatus(StatusCode.ERROR, type);
      d.end();
    }
    chat.setAttribute(ChatTelemetry.ERROR_TYPE, type);
    chat.setStatus(StatusCode.ERROR, description == null ? type : description);
    chat.recordException(e);
    chat.end();
  }

  /**
   * The client cancelled (or its deadline passed): ends open spans with finish reason {@code
   * cancelled}.
   */
  public void cancelled() {
    if (!ended.compareAndSet(false, true)) return;
    t.duration.record(
        (System.nanoTime() - t0) / 1e9,
        t.metricAttributes.toBuilder().put(ChatTelemetry.ERROR_TYPE, "cancelled").build());
    if (timeline == null) {
      chat.end();
      return;
    }
    Span d = decode;
    if (d != null) d.end();
    chat.setAttribute(ChatTelemetry.FINISH_REASONS, List.of("cancelled"));
    chat.end();
  }
}
