package tandem.common.telemetry;

import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.ReadWriteSpan;
import io.opentelemetry.sdk.trace.ReadableSpan;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Prints each finished trace as an indented tree with durations ({@code vlm serve --trace-log}). A
 * span processor, so it sees spans start as well as end: a trace is printed (and dropped) as soon
 * as every span of it started in this process has ended. Counting open spans, rather than waiting
 * for a "root", handles both layouts: in one process a backend's RPC server span has a remote
 * parent (the context came through gRPC metadata) yet belongs inside the gateway's tree, and it may
 * even end a moment after the gateway's root. At most {@link #MAX_TRACES} unfinished traces are
 * kept, so a span that never ends cannot grow memory.
 */
final class TraceTreePrinter implements SpanProcessor {
  static final int MAX_TRACES = 1024;
  private final PrintStream out;
  private final Map<String, List<SpanData>> pending = new LinkedHashMap<>();
  private final Map<String, Integer> open = new HashMap<>();

  TraceTreePrinter(PrintStream out) {
    this.out = out;
  }

  @Override
  public synchronized void onStart(Context parent, ReadWriteSpan span) {
    if (!span.getSpanContext().isSampled()) return;
    String id = span.getSpanContext().getTraceId();
    open.merge(id, 1, Integer::sum);
    pending.computeIfAbsent(id, k -> new ArrayList<>());
    while (pending.size() > MAX_TRACES) {
      String eldest = pending.keySet().iterator().next();
      pending.remove(eldest);
      open.remove(eldest);
    }
  }

  @Override
  public boolean isStartRequired() {
    return true;
  }

  @Override
  public synchronized void onEnd(ReadableSpan span) {
    if (!span.getSpanContext().isSampled()) return;
    String id = span.getSpanContext().getTraceId();
    List<SpanData> spans = pending.get(id);
    if (spans == null) return; // evicted
    spans.add(span.toSpanData());
    int left = open.merge(id, -1, Integer::sum);
    if (left <= 0) {
      open.remove(id);
      print(id, pending.remove(id));
    }
  }

  @Override
  public boolean isEndRequired() {
    return true;
  }

  private void print(String traceId, List<SpanData> spans) {
    Map<String, List<SpanData>> children = new HashMap<>();
    Map<String, SpanData> byId = new HashMap<>();
    for (SpanData s : spans) byId.put(s.getSpanId(), s);
    List<SpanData> roots = new ArrayList<>();
    for (SpanData s : spans) {
      if (byId.containsKey(s.getParentSpanId())) {
        children.computeIfAbsent(s.getParentSpanId(), k -> new ArrayList<>()).add(s);
      } else {
        roots.add(s);
      }
    }
    StringBuilder sb = new StringBuilder("trace ").append(traceId).append('\n');
    roots.sort(Comparator.comparingLong(SpanData::getStartEpochNanos));
    for (SpanData r : roots) append(sb, r, children, 1);
    out.print(sb);
    out.flush();
  }

  private static void append(
      StringBuilder sb, SpanData s, Map<String, List<SpanData>> children, int depth) {
    double ms = (s.getEndEpochNanos() - s.getStartEpochNanos()) / 1e6;
    sb.append("  ".repeat(depth)).append(s.getName()).append(String.format(" %.1f ms", ms));
    if (!s.getAttributes().isEmpty()) {
      sb.append("  {");
      s.getAttributes().forEach((k, v) -> sb.append(k.getKey()).append('=').append(v).append(", "));
      sb.setLength(sb.length() - 2);
      sb.append('}');
    }
    sb.append('\n');
    List<SpanData> kids = new ArrayList<>(children.getOrDefault(s.getSpanId(), List.of()));
    kids.sort(Comparator.comparingLong(SpanData::getStartEpochNanos));
    for (SpanData k : kids) append(sb, k, children, depth + 1);
  }

  @Override
  public CompletableResultCode forceFlush() {
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    return CompletableResultCode.ofSuccess();
  }
}
