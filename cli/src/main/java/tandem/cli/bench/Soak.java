package tandem.cli.bench;

import io.grpc.Status;
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
 * Long-running load on a Chat server: {@code concurrency} clients each send chats back to back for
 * {@code duration}. Counts requests, errors by status code, time to first token (p50/p99), and heap
 * (this JVM, after a GC) and RSS (the server's, from /proc/PID/status, or this process's when the
 * server runs embedded) at start, middle and end. The target: no unexpected errors, memory flat
 * (end within 10% of middle), nothing left in flight or queued once the load stops. A {@link Mix}
 * adds images, random cancels, mid-stream disconnects, slow readers and backend restarts; what
 * those cause on purpose is counted apart from errors (RESOURCE_EXHAUSTED is counted, and not
 * unexpected).
 */
public final class Soak {
  private Soak() {}

  public record Sample(String when, long heapBytes, long rssBytes) {}

  /**
   * What the clients do besides plain text chats, each a fraction of requests: send an image,
   * cancel at a random moment, drop their connection mid-stream, read slowly (one chunk per {@code
   * slowReadMs}); and, with an embedded server, restart a backend every {@code restartEverySeconds}
   * (0 = never).
   */
  public record Mix(
      double images,
      double cancels,
      double disconnects,
      double slowReaders,
      long slowReadMs,
      double restartEverySeconds) {
    public Mix {
      for (double f : new double[] {images, cancels, disconnects, slowReaders}) {
        if (!(f >= 0 && f <= 1))
          throw new IllegalArgumentException("mix fractions must be in 0..1, got " + f);
      }
      if (cancels + disconnects + slowReaders > 1) {
        throw new IllegalArgumentException(
            "cancels + disconnects + slow readers must be at most 1");
      }
      if (slowReadMs < 0 || restartEverySeconds < 0)
        throw new IllegalArgumentException("times must be >= 0");
    }

    public static Mix plain() {
      return new Mix(0, 0, 0, 0, 0, 0);
    }
  }

  /**
   * Hooks into the server under load: a fresh channel (disconnects), a backend restart, gauges read
   * at the end.
   */
  public interface Target {
    io.grpc.ManagedChannel freshChannel();

    /** Restarts one backend (alternating); false when this target cannot (a remote server). */
    default boolean restartBackend() throws Exception {
      return false;
    }

    /** In-flight and queue counts of the server, by name; empty when not visible from here. */
    default Map<String, Long> gauges() {
      return Map.of();
    }
  }

  /**
   * @param expected outcomes the clients caused on purpose (their own cancels and disconnects) or
   *     that a backend restart explains, by kind; not errors
   * @param endGauges server in-flight and queue counts once the load stopped and settled, plus
   *     thread counts
   */
  public record Report(
      long requests,
      Map<String, Long> errors,
      double ttftP50Ms,
      double ttftP99Ms,
      List<Sample> memory,
      double seconds,
      Map<String, Long> expected,
      Map<String, Long> endGauges) {
    public Report(
        long requests,
        Map<String, Long> errors,
        double ttftP50Ms,
        double ttftP99Ms,
        List<Sample> memory,
        double seconds) {
      this(requests, errors, ttftP50Ms, ttftP99Ms, memory, seconds, Map.of(), Map.of());
    }

    public long unexpectedErrors() {
      long n = 0;
      for (var e : errors.entrySet())
        if (!e.getKey().equals("RESOURCE_EXHAUSTED")) n += e.getValue();
      return n;
    }

    /**
     * Server work left over after the load stopped (in-flight streams, sequences, queues): a leak
     * when above 0.
     */
    public long leftOver() {
      long n = 0;
      for (var e : endGauges.entrySet())
        if (!e.getKey().endsWith("threads") && e.getValue() > 0) n += e.getValue();
      return n;
    }

    /** End RSS relative to the middle sample: the memory-flat criterion (<= 1.10). */
    public double rssEndOverMiddle() {
      return memory.size() < 3
          ? Double.NaN
          : (double) memory.get(2).rssBytes() / memory.get(1).rssBytes();
    }
  }

  /** The plain soak (text chats only). */
  public static Report run(
      ChatServiceGrpc.ChatServiceStub chat,
      int concurrency,
      long durationMs,
      int newTokens,
      long serverPid,
      PrintStream log)
      throws InterruptedException {
    return run(chat, concurrency, durationMs, newTokens, serverPid, log, Mix.plain(), null);
  }

  /**
   * Runs the soak. {@code serverPid} < 0 reads this process's RSS (embedded server). TLS and the
   * bearer token are the channel's ({@code ClientOptions}). {@code target} may be null when {@code
   * mix} needs no disconnects or restarts.
   */
  public static Report run(
      ChatServiceGrpc.ChatServiceStub chat,
      int concurrency,
      long durationMs,
      int newTokens,
      long serverPid,
      PrintStream log,
      Mix mix,
      Target target)
      throws InterruptedException {
    if (target == null && (mix.disconnects() > 0 || mix.restartEverySeconds() > 0)) {
      throw new IllegalArgumentException("disconnects and restarts need a target");
    }
    List<Sample> memory = new ArrayList<>();
    memory.add(sample("start", serverPid));
    log.printf(
        Locale.ROOT,
        "soak: %d clients for %.1f min, mix %s%n",
        concurrency,
        durationMs / 60000.0,
        mix);
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.MILLISECONDS.toNanos(durationMs);
    LongAdder requests = new LongAdder();
    Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    Map<String, LongAdder> expected = new ConcurrentHashMap<>();
    // a restart explains errors from just before it starts until a little after the new backend
    // serves
    AtomicLong restartWindowEnd = new AtomicLong(Long.MIN_VALUE);
    java.util.concurrent.atomic.AtomicBoolean restarting =
        new java.util.concurrent.atomic.AtomicBoolean();
    byte[][] images = mix.images() > 0 ? images(4) : new byte[0][];
    java.util.concurrent.ScheduledExecutorService timers =
        java.util.concurrent.Executors.newScheduledThreadPool(
            2,
            r -> {
              Thread t = new Thread(r, "soak-timer");
              t.setDaemon(true);
              return t;
            });
    // TTFT in microseconds; a soak of minutes at tiny-model speed stays within a few million
    // samples
    long[][] ttft = new long[concurrency][];
    AtomicLong ttftCount = new AtomicLong();
    AtomicLong logged = new AtomicLong();
    List<Thread> clients = new ArrayList<>();
    final ChatServiceGrpc.ChatServiceStub stub = chat;
    for (int c = 0; c < concurrency; c++) {
      final int id = c;
      Thread th =
          new Thread(
              () -> {
                java.util.Random rnd = new java.util.Random(id * 7919L + 1);
                long[] mine = new long[1024];
                int n = 0;
                long k = 0;
                while (System.nanoTime() < end) {
                  double roll = rnd.nextDouble();
                  String action =
                      roll < mix.cancels()
                          ? "cancel"
                          : roll < mix.cancels() + mix.disconnects()
                              ? "disconnect"
                              : roll < mix.cancels() + mix.disconnects() + mix.slowReaders()
                                  ? "slow"
                                  : "plain";
                  byte[] image =
                      rnd.nextDouble() < mix.images() ? images[rnd.nextInt(images.length)] : null;
                  io.grpc.ManagedChannel own =
                      action.equals("disconnect") ? target.freshChannel() : null;
                  ChatServiceGrpc.ChatServiceStub s =
                      own != null ? ChatServiceGrpc.newStub(own) : stub;
                  long[] first = {-1};
                  String[] failure = {null};
                  String[] detail = {null};
                  CountDownLatch done = new CountDownLatch(1);
                  long start = System.nanoTime();
                  long delay = 1 + rnd.nextInt(800);
                  @SuppressWarnings("unchecked")
                  io.grpc.stub.ClientCallStreamObserver<ChatRequest>[] started =
                      new io.grpc.stub.ClientCallStreamObserver[1];
                  try {
                    s.withDeadlineAfter(120, TimeUnit.SECONDS)
                        .chat(
                            request(id, k++, newTokens, image),
                            new io.grpc.stub.ClientResponseObserver<ChatRequest, ChatChunk>() {
                              @Override
                              public void beforeStart(
                                  io.grpc.stub.ClientCallStreamObserver<ChatRequest> r) {
                                started[0] = r;
                                if (action.equals("slow")) r.disableAutoRequestWithInitial(1);
                              }

                              @Override
                              public void onNext(ChatChunk ch) {
                                if (first[0] < 0 && ch.hasDelta()) first[0] = System.nanoTime();
                                if (ch.hasFinal()
                                    && ch.getFinal().getFinishReason()
                                        == FinishReason.FINISH_REASON_ERROR) {
                                  failure[0] = "FINISH_REASON_ERROR";
                                }
                                if (action.equals("slow"))
                                  timers.schedule(
                                      () -> started[0].request(1),
                                      mix.slowReadMs(),
                                      TimeUnit.MILLISECONDS);
                              }

                              @Override
                              public void onError(Throwable t) {
                                Status st = Status.fromThrowable(t);
                                failure[0] = st.getCode().toString();
                                detail[0] = st.getDescription();
                                done.countDown();
                              }

                              @Override
                              public void onCompleted() {
                                done.countDown();
                              }
                            });
                  } catch (RuntimeException e) { // the stub could not start the call at all
                    failure[0] = "CLIENT_ERROR";
                    detail[0] = e.toString();
                    done.countDown();
                  }
                  // The cancel and the dropped connection are timed from here, once the stub has
                  // sent the request: a cancel between the call's start and its message made the
                  // stub throw "call was cancelled" on this thread, which killed the client.
                  if (started[0] != null && done.getCount() > 0) {
                    if (action.equals("cancel")) {
                      var r = started[0];
                      timers.schedule(
                          () -> r.cancel("soak: the client cancels", null),
                          delay,
                          TimeUnit.MILLISECONDS);
                    } else if (own != null) {
                      // the connection drops under the stream, as when a client dies
                      timers.schedule(own::shutdownNow, delay, TimeUnit.MILLISECONDS);
                    }
                  }
                  try {
                    done.await();
                  } catch (InterruptedException e) {
                    return;
                  } finally {
                    if (own != null) own.shutdownNow();
                  }
                  requests.increment();
                  String f = failure[0];
                  if (f != null && (action.equals("cancel") && f.equals("CANCELLED"))) {
                    expected.computeIfAbsent("client cancels", x -> new LongAdder()).increment();
                  } else if (f != null
                      && action.equals("disconnect")
                      && (f.equals("UNAVAILABLE") || f.equals("CANCELLED"))) {
                    expected
                        .computeIfAbsent("client disconnects", x -> new LongAdder())
                        .increment();
                  } else if (f != null
                      && !f.equals("RESOURCE_EXHAUSTED")
                      && (restarting.get() || System.nanoTime() < restartWindowEnd.get())
                      && (f.equals("UNAVAILABLE")
                          || f.equals("FINISH_REASON_ERROR")
                          || f.equals("CANCELLED"))) {
                    expected
                        .computeIfAbsent("ended by a backend restart", x -> new LongAdder())
                        .increment();
                  } else if (f != null) {
                    errors.computeIfAbsent(f, x -> new LongAdder()).increment();
                    // what went wrong, for the first few, so a failed soak says why
                    if (!f.equals("RESOURCE_EXHAUSTED") && logged.getAndIncrement() < 20)
                      log.printf(
                          Locale.ROOT,
                          "soak: unexpected %s (%s%s, %.1f s in): %s%n",
                          f,
                          action,
                          image != null ? ", image" : "",
                          (System.nanoTime() - t0) / 1e9,
                          detail[0]);
                  }
                  if (f != null && !action.equals("cancel") && !action.equals("disconnect")) {
                    // a refused or failed client backs off a little, as real ones do, rather than
                    // spin on a restarting backend
                    try {
                      Thread.sleep(50);
                    } catch (InterruptedException e) {
                      return;
                    }
                  }
                  if (f == null && first[0] > 0) {
                    if (action.equals("cancel"))
                      expected
                          .computeIfAbsent("finished before the cancel", x -> new LongAdder())
                          .increment();
                    if (n == mine.length) mine = Arrays.copyOf(mine, n * 2);
                    mine[n++] = (first[0] - start) / 1000;
                  }
                }
                ttft[id] = Arrays.copyOf(mine, n);
                ttftCount.addAndGet(n);
              },
              "soak-" + c);
      th.setDaemon(true);
      // a client that dies stops loading the server: that fails the soak instead of thinning it
      th.setUncaughtExceptionHandler(
          (t, e) -> {
            errors.computeIfAbsent("CLIENT_DIED", x -> new LongAdder()).increment();
            log.println("soak: client " + t.getName() + " died: " + e);
          });
      clients.add(th);
      th.start();
    }
    long middle = t0 + (end - t0) / 2;
    long nextReport = t0 + TimeUnit.SECONDS.toNanos(30);
    long restartNs = (long) (mix.restartEverySeconds() * 1e9);
    long nextRestart = restartNs > 0 ? t0 + restartNs : Long.MAX_VALUE;
    long restarts = 0;
    boolean middleTaken = false;
    while (System.nanoTime() < end) {
      Thread.sleep(200);
      long now = System.nanoTime();
      if (!middleTaken && now >= middle) {
        memory.add(sample("middle", serverPid));
        middleTaken = true;
      }
      if (now >= nextRestart && now < end - TimeUnit.SECONDS.toNanos(5)) {
        restarting.set(true);
        try {
          if (target.restartBackend()) restarts++;
        } catch (Exception e) {
          errors.computeIfAbsent("RESTART_FAILED", x -> new LongAdder()).increment();
          log.println("soak: backend restart failed: " + e);
        } finally {
          restartWindowEnd.set(System.nanoTime() + TimeUnit.SECONDS.toNanos(3));
          restarting.set(false);
        }
        nextRestart = System.nanoTime() + restartNs;
      }
      if (now >= nextReport) {
        log.printf(
            Locale.ROOT,
            "soak: %.0f s, %d requests, errors %s, expected %s%n",
            (now - t0) / 1e9,
            requests.sum(),
            snapshot(errors),
            snapshot(expected));
        nextReport += TimeUnit.SECONDS.toNanos(30);
      }
    }
    for (Thread th : clients) th.join(TimeUnit.SECONDS.toMillis(150));
    timers.shutdownNow();
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (!middleTaken) memory.add(sample("middle", serverPid));
    memory.add(sample("end", serverPid));
    Map<String, Long> gauges = endGauges(target);
    if (restarts > 0)
      expected.computeIfAbsent("backend restarts", x -> new LongAdder()).add(restarts);
    long[] all = new long[(int) ttftCount.get()];
    int p = 0;
    for (long[] t : ttft) if (t != null) for (long v : t) all[p++] = v;
    Arrays.sort(all, 0, p);
    return new Report(
        requests.sum(),
        snapshot(errors),
        pct(all, p, 0.50) / 1000.0,
        pct(all, p, 0.99) / 1000.0,
        memory,
        seconds,
        snapshot(expected),
        gauges);
  }

  /**
   * The server's in-flight and queue counts once the load has stopped (given up to 10 s to settle:
   * a cancelled stream is freed asynchronously), plus this JVM's thread counts.
   */
  static Map<String, Long> endGauges(Target target) throws InterruptedException {
    Map<String, Long> g = new TreeMap<>();
    if (target != null) {
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      do {
        g = new TreeMap<>(target.gauges());
        long busy = 0;
        for (long v : g.values()) busy += Math.max(0, v);
        if (busy == 0) break;
        Thread.sleep(100);
      } while (System.nanoTime() < until);
    }
    var threads = ManagementFactory.getThreadMXBean();
    g.put("jvm threads", (long) threads.getThreadCount());
    g.put("jvm peak threads", (long) threads.getPeakThreadCount());
    return g;
  }

  /** A few small distinct PNGs (vision cost stays low; repeats hit the embedding cache). */
  static byte[][] images(int n) {
    byte[][] out = new byte[n][];
    for (int i = 0; i < n; i++) {
      var img =
          new java.awt.image.BufferedImage(
              96 + 16 * i, 64 + 8 * i, java.awt.image.BufferedImage.TYPE_INT_RGB);
      for (int y = 0; y < img.getHeight(); y++) {
        for (int x = 0; x < img.getWidth(); x++)
          img.setRGB(x, y, ((x * 13 + y * 7 + i * 97) * 2654435) & 0xffffff);
      }
      var bytes = new java.io.ByteArrayOutputStream();
      try {
        javax.imageio.ImageIO.write(img, "png", bytes);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      out[i] = bytes.toByteArray();
    }
    return out;
  }

  static ChatRequest request(int client, long k, int newTokens) {
    return request(client, k, newTokens, null);
  }

  static ChatRequest request(int client, long k, int newTokens, byte[] image) {
    // a little variety so caches and the tokenizer see different text
    String text =
        "Client "
            + client
            + " asks question "
            + k
            + ": describe a red square in "
            + (3 + k % 5)
            + " words.";
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    if (image != null) {
      m.addContent(
          ContentPart.newBuilder()
              .setImage(
                  tandem.proto.gateway.v1.ImagePart.newBuilder()
                      .setData(com.google.protobuf.ByteString.copyFrom(image))));
    }
    return ChatRequest.newBuilder()
        .addMessages(m.addContent(ContentPart.newBuilder().setText(text)))
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
    out.printf(
        Locale.ROOT,
        "requests: %d in %.0f s (%.1f/s)%n",
        r.requests(),
        r.seconds(),
        r.requests() / r.seconds());
    out.println("errors by status: " + (r.errors().isEmpty() ? "none" : r.errors()));
    out.printf(Locale.ROOT, "ttft: p50 %.1f ms, p99 %.1f ms%n", r.ttftP50Ms(), r.ttftP99Ms());
    for (Sample s : r.memory()) {
      out.printf(
          Locale.ROOT,
          "memory %-6s: client heap %.1f MiB, %s RSS %.1f MiB%n",
          s.when(),
          s.heapBytes() / 1048576.0,
          embedded ? "process (embedded server)" : "server",
          s.rssBytes() / 1048576.0);
    }
    if (!r.expected().isEmpty()) out.println("expected outcomes: " + r.expected());
    if (!r.endGauges().isEmpty()) out.println("at the end: " + r.endGauges());
    out.printf(
        Locale.ROOT,
        "rss end/middle: %.3f (target <= 1.10); unexpected errors: %d (target 0); "
            + "left over in the server: %d (target 0)%n",
        r.rssEndOverMiddle(),
        r.unexpectedErrors(),
        r.leftOver());
  }
}
