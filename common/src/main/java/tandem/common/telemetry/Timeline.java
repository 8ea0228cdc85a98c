package tandem.common.telemetry;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/**
 * Turns {@link System#nanoTime()} readings into span timestamps, so stage spans can be created
 * after the fact from timestamps the hot code records anyway (a scheduler thread, a streaming loop)
 * instead of calling OpenTelemetry while the work runs. One timeline per request: its anchor pairs
 * a wall-clock instant with a monotonic reading, so durations are monotonic and start times are
 * wall-clock.
 */
public final class Timeline {
  private final long nano0;
  private final long epoch0;

  private Timeline(long nano0, long epoch0) {
    this.nano0 = nano0;
    this.epoch0 = epoch0;
  }

  /** Anchored now. */
  public static Timeline start() {
    Instant now = Instant.now();
    long nano = System.nanoTime();
    return new Timeline(nano, now.getEpochSecond() * 1_000_000_000L + now.getNano());
  }

  /** Epoch nanoseconds of a {@link System#nanoTime()} reading. */
  public long epochNanos(long nanoTime) {
    return epoch0 + (nanoTime - nano0);
  }

  /**
   * Starts an internal span at {@code startNanoTime} under {@code parent}; end it with {@link
   * #end}.
   */
  public Span open(Tracer tracer, String name, Context parent, long startNanoTime) {
    return tracer
        .spanBuilder(name)
        .setParent(parent)
        .setSpanKind(SpanKind.INTERNAL)
        .setStartTimestamp(epochNanos(startNanoTime), TimeUnit.NANOSECONDS)
        .startSpan();
  }

  /** Ends {@code span} at {@code endNanoTime}. */
  public void end(Span span, long endNanoTime) {
    span.end(epochNanos(endNanoTime), TimeUnit.NANOSECONDS);
  }

  /** A finished child span covering [start, end]; returned (already ended) only for tests. */
  public Span stage(
      Tracer tracer, String name, Context parent, long startNanoTime, long endNanoTime) {
    Span s = open(tracer, name, parent, startNanoTime);
    end(s, endNanoTime);
    return s;
  }
}
