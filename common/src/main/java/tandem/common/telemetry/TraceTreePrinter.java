package tandem.common.telemetry;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Prints each finished trace as an indented tree with durations ({@code vlm serve --trace-log}). Spans are held per
 * trace until the trace's local root ends (a span whose parent is not in this process), then printed and dropped;
 * at most {@link #MAX_TRACES} unfinished traces are kept so a lost root cannot grow memory.
 *
 * <p>The tree is printed {@link #GRACE_MS} after the root ends, not at once: in one process a backend's RPC server
 * span can end a moment after the client saw the call finish (gRPC runs the server's completion callback after the
 * trailers are on their way), so the root may end first.
 */
final class TraceTreePrinter implements SpanExporter {
  static final int MAX_TRACES = 1024;
  static final long GRACE_MS = 200;
  private final PrintStream out;
  private final Map<String, List<SpanData>> pending = new LinkedHashMap<>();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "trace-log");
    t.setDaemon(true);
    return t;
  });

  TraceTreePrinter(PrintStream out) {
    this.out = out;
  }

  @Override
  public synchronized CompletableResultCode export(Collection<SpanData> spans) {
    for (SpanData s : spans) {
      pending.computeIfAbsent(s.getTraceId(), k -> new ArrayList<>()).add(s);
      boolean localRoot = !s.getParentSpanContext().isValid() || s.getParentSpanContext().isRemote();
      if (localRoot) {
        String id = s.getTraceId();
        try {
          timer.schedule(() -> printPending(id), GRACE_MS, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) { // shut down: print now
          print(id, pending.remove(id));
        }
      }
    }
    while (pending.size() > MAX_TRACES) pending.remove(pending.keySet().iterator().next());
    return CompletableResultCode.ofSuccess();
  }

  private synchronized void printPending(String traceId) {
    List<SpanData> spans = pending.remove(traceId);
    if (spans != null) print(traceId, spans);
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

  private static void append(StringBuilder sb, SpanData s, Map<String, List<SpanData>> children, int depth) {
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
  public CompletableResultCode flush() {
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    timer.shutdown();
    try {
      timer.awaitTermination(1, TimeUnit.SECONDS); // scheduled prints still run
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return CompletableResultCode.ofSuccess();
  }
}
