package tandem.cli.bench;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * Long-running load on a Chat server: {@code concurrency} clients each send chats back to back for {@code duration}.
 * Counts requests, errors by status code, time to first token (p50/p99), and heap (this JVM, after a GC) and RSS (the
 * server's, from /proc/PID/status, or this process's when the server runs embedded) at start, middle and end. The
 * target: no unexpected errors, memory flat (end within 10% of middle).
 */
public final class Soak {
  private Soak() {}

  public record Sample(String when, long heapBytes, long rssBytes) {}

  public record Report(
      long requests, Map<String, Long> errors, double ttftP50Ms, double ttftP99Ms, List<Sample> memory, double seconds) {
    public long unexpectedErrors() {
      long n = 0;
      for (var e : errors.entrySet()) if (!e.getKey().equals("RESOURCE_EXHAUSTED")) n += e.getValue();
      return n;
    }

    /** End RSS relative to the middle sample: the memory-flat criterion (<= 1.10). */
    public double rssEndOverMiddle() {
      return memory.size() < 3 ? Double.NaN : (double) memory.get(2).rssBytes() / memory.get(1).rssBytes();
    }
  }

  /**
   * Runs the soak. {@code serverPid} < 0 reads this process's RSS (embedded server). TLS and the bearer token are the
   * channel's ({@code ClientOptions}).
   */
  public static Report run(ChatServiceGrpc.ChatServiceStub chat, int concurrency, long durationMs, int newTokens,
      long serverPid, PrintStream log) throws InterruptedException {
    List<Sample> memory = new ArrayList<>();
    memory.add(sample("start", serverPid));
    log.printf(Locale.ROOT, "soak: %d clients for %.1f min%n", concurrency, durationMs / 60000.0);
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.MILLISECONDS.toNanos(durationMs);
    LongAdder requests = new LongAdder();
    Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    // TTFT in microseconds; a soak of minutes at tiny-model speed stays within a few million samples
    long[][] ttft = new long[concurrency][];
    AtomicLong ttftCount = new AtomicLong();
    List<Thread> clients = new ArrayList<>();
    final ChatServiceGrpc.ChatServiceStub stub = chat;
    for (int c = 0; c < concurrency; c++) {
      final int id = c;
      Thread th = new Thread(() -> {
        long[] mine = new long[1024];
        int n = 0;
        long k = 0;
        while (System.nanoTime() < end) {
          long[] first = {-1};
          String[] failure = {null};
          CountDownLatch done = new CountDownLatch(1);
          long start = System.nanoTime();
          stub.withDeadlineAfter(120, TimeUnit.SECONDS).chat(request(id, k++, newTokens), new StreamObserver<>() {
            @Override
            public void onNext(ChatChunk ch) {
              if (first[0] < 0 && ch.hasDelta()) first[0] = System.nanoTime();
              if (ch.hasFinal() && ch.getFinal().getFinishReason() == FinishReason.FINISH_REASON_ERROR) {
                failure[0] = "FINISH_REASON_ERROR";
              }
            }

            @Override
            public void onError(Throwable t) {
              failure[0] = Status.fromThrowable(t).getCode().toString();
              done.countDown();
            }

            @Override
            public void onCompleted() {
              done.countDown();
            }
          });
          try {
            done.await();
          } catch (InterruptedException e) {
            return;
          }
          requests.increment();
          if (failure[0] != null) {
            errors.computeIfAbsent(failure[0], x -> new LongAdder()).increment();
          } else if (first[0] > 0) {
            if (n == mine.length) mine = Arrays.copyOf(mine, n * 2);
            mine[n++] = (first[0] - start) / 1000;
          }
        }
        ttft[id] = Arrays.copyOf(mine, n);
        ttftCount.addAndGet(n);
      }, "soak-" + c);
      th.setDaemon(true);
      clients.add(th);
      th.start();
    }
    long middle = t0 + (end - t0) / 2;
    long nextReport = t0 + TimeUnit.SECONDS.toNanos(30);
    boolean middleTaken = false;
    while (System.nanoTime() < end) {
      Thread.sleep(200);
      long now = System.nanoTime();
      if (!middleTaken && now >= middle) {
        memory.add(sample("middle", serverPid));
        middleTaken = true;
      }
      if (now >= nextReport) {
        log.printf(Locale.ROOT, "soak: %.0f s, %d requests, errors %s%n", (now - t0) / 1e9, requests.sum(), snapshot(errors));
        nextReport += TimeUnit.SECONDS.toNanos(30);
      }
    }
    for (Thread th : clients) th.join(TimeUnit.SECONDS.toMillis(150));
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (!middleTaken) memory.add(sample("middle", serverPid));
    memory.add(sample("end", serverPid));
    long[] all = new long[(int) ttftCount.get()];
    int p = 0;
    for (long[] t : ttft) if (t != null) for (long v : t) all[p++] = v;
    Arrays.sort(all, 0, p);
    return new Report(requests.sum(), snapshot(errors), pct(all, p, 0.50) / 1000.0, pct(all, p, 0.99) / 1000.0, memory, seconds);
  }

  static ChatRequest request(int client, long k, int newTokens) {
    // a little variety so caches and the tokenizer see different text
    String text = "Client " + client + " asks question " + k + ": describe a red square in " + (3 + k % 5) + " words.";
    return ChatRequest.newBuilder()
        .addMessages(ChatMessage.newBuilder().setRole("user").addContent(ContentPart.newBuilder().setText(text)))
        .setParams(GenerationParams.newBuilder().setMaxNewTokens(newTokens).setTemperature(0))
        .build();
  }

  private static Map<String, Long> snapshot(Map<String, LongAdder> m) {
    Map<String, Long> out = new TreeMap<>();
    m.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  static long pct(long[] sorted, int n, double q) {
    if (n == 0) return 0;
    return sorted[Math.min(n - 1, (int) Math.ceil(q * n) - 1 < 0 ? 0 : (int) Math.ceil(q * n) - 1)];
  }

  static Sample sample(String when, long pid) {
    System.gc(); // heap after a full collection: what is live, not what awaits collection
    Runtime rt = Runtime.getRuntime();
    long heap = rt.totalMemory() - rt.freeMemory();
    return new Sample(when, heap, rss(pid < 0 ? ProcessHandle.current().pid() : pid));
  }

  /** VmRSS of a process from /proc, bytes; -1 where /proc is unavailable. */
  public static long rss(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  public static void print(Report r, PrintStream out, boolean embedded) {
    out.printf(Locale.ROOT, "requests: %d in %.0f s (%.1f/s)%n", r.requests(), r.seconds(), r.requests() / r.seconds());
    out.println("errors by status: " + (r.errors().isEmpty() ? "none" : r.errors()));
    out.printf(Locale.ROOT, "ttft: p50 %.1f ms, p99 %.1f ms%n", r.ttftP50Ms(), r.ttftP99Ms());
    for (Sample s : r.memory()) {
      out.printf(Locale.ROOT, "memory %-6s: client heap %.1f MiB, %s RSS %.1f MiB%n", s.when(), s.heapBytes() / 1048576.0,
          embedded ? "process (embedded server)" : "server", s.rssBytes() / 1048576.0);
    }
    out.printf(Locale.ROOT, "rss end/middle: %.3f (target <= 1.10); unexpected errors: %d (target 0)%n",
        r.rssEndOverMiddle(), r.unexpectedErrors());
  }
}
