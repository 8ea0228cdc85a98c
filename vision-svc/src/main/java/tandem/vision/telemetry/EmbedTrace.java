package tandem.vision.telemetry;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import tandem.common.telemetry.Timeline;

/**
 * The {@code embed} span of one Embed call and its stage children ({@code cache}, {@code
 * preprocess}, {@code forward}), made from timestamps the embedder records anyway. When tracing is
 * off (no-op tracer, or the trace was not sampled) the span does not record and every method
 * returns at once.
 */
public final class EmbedTrace {
  public static final String SCOPE = "tandem.vision";
  public static final AttributeKey<Long> IMAGES = AttributeKey.longKey("vision.images");
  public static final AttributeKey<Long> TILES = AttributeKey.longKey("vision.tiles");
  public static final AttributeKey<Long> TILES_COMPUTED =
      AttributeKey.longKey("vision.tiles.computed");
  public static final AttributeKey<Boolean> CACHE_HIT = AttributeKey.booleanKey("vision.cache.hit");
  public static final AttributeKey<Long> CACHE_HITS = AttributeKey.longKey("vision.cache.hits");

  private final Tracer tracer;
  private final Span span;
  private final Context context;
  private final Timeline timeline;

  private EmbedTrace(Tracer tracer, Span span, Context context, Timeline timeline) {
    this.tracer = tracer;
    this.span = span;
    this.context = context;
    this.timeline = timeline;
  }

  /**
   * Starts {@code embed} under the current context (the RPC server span when called from the gRPC
   * handler).
   */
  public static EmbedTrace start(Tracer tracer) {
    Span span = tracer.spanBuilder("embed").startSpan();
    if (!span.isRecording()) return new EmbedTrace(tracer, span, null, null);
    return new EmbedTrace(tracer, span, Context.current().with(span), Timeline.start());
  }

  /** A finished child of {@code embed} covering two {@link System#nanoTime()} readings. */
  public void stage(String name, long startNanoTime, long endNanoTime) {
    if (timeline == null) return;
    timeline.stage(tracer, name, context, startNanoTime, endNanoTime);
  }

  /**
   * Ends {@code embed} with the counts: images, tiles (all images), tiles computed (the misses this
   * call encoded), cache hits, and {@code vision.cache.hit} = every image came from the cache.
   */
  public void finish(int images, long tiles, long computed, long hits) {
    if (timeline != null) {
      span.setAttribute(IMAGES, images);
      span.setAttribute(TILES, tiles);
      span.setAttribute(TILES_COMPUTED, computed);
      span.setAttribute(CACHE_HITS, hits);
      span.setAttribute(CACHE_HIT, images > 0 && hits == images);
    }
    span.end();
  }

  /**
   * Ends {@code embed} as failed; a refusal's description is its code and message ({@code
   * Rejection.toString}).
   */
  public void fail(Exception e) {
    if (timeline != null) {
      span.setStatus(StatusCode.ERROR, e.toString());
      span.recordException(e);
    }
    span.end();
  }
}
