package tandem.decoder.generate;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;
import tandem.decoder.model.CausalLm;

/**
 * Continuous batching over a {@link CausalLm}: one thread owns the model and loops
 *
 * <ol>
 *   <li>drop cancelled sequences (free their KV slots) and cancelled queued requests;
 *   <li>admit queued requests into free slots, prefilling each (at most {@code prefillTokensPerStep} prompt tokens
 *       per round while others are decoding, so a long prompt delays the running streams by one prefill, not by a
 *       whole queue of them) and emitting its first token;
 *   <li>run one batched decode step over every active sequence and emit one token each; finished sequences leave
 *       at once and their slot is reused by the next admission.
 * </ol>
 *
 * Each sequence keeps its own processor state and RNG, and the model computes each row of a batch independently,
 * so the ids a sequence gets do not depend on what it is batched with.
 */
public final class Scheduler implements AutoCloseable {
  private static final Logger log = Logger.getLogger(Scheduler.class.getName());

  /**
   * @param maxQueue requests that may wait for a slot; more get EXHAUSTED
   * @param contextLength the model's context (max_position_embeddings); longer prompts are INVALID
   * @param prefillTokensPerStep prompt tokens admitted per round while other sequences are decoding (at least one
   *     request is always admitted when a slot is free)
   */
  public record Config(int maxQueue, int contextLength, int prefillTokensPerStep) {
    public Config {
      if (maxQueue < 0) throw new IllegalArgumentException("maxQueue must be >= 0, got " + maxQueue);
      if (contextLength < 2) throw new IllegalArgumentException("contextLength must be >= 2, got " + contextLength);
      if (prefillTokensPerStep < 1)
        throw new IllegalArgumentException("prefillTokensPerStep must be >= 1, got " + prefillTokensPerStep);
    }
  }

  /** The caller's grip on a submitted request. */
  public interface Handle {
    /** Stops the sequence within one step and frees its slot; idempotent, callable from any thread. */
    void cancel();
  }

  private final CausalLm model;
  private final Config config;
  private final int capacity;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  private final ArrayDeque<Seq> queue = new ArrayDeque<>();
  private final List<Seq> active = new ArrayList<>();
  private final boolean[] slotBusy;
  private final Thread thread;
  private volatile boolean closed;
  /** Set when the loop died of something it could not survive; the process must be replaced. */
  private volatile Throwable failure;
  private volatile Runnable onFailure = () -> {};

  // Metrics written by the scheduler thread, read by anyone.
  private volatile int activeCount;
  private volatile long kvTokens;
  private volatile long steps;
  private volatile long tokens;
  private volatile long stepNanos;
  private volatile long modelNanos;
  private volatile long finished;

  public Scheduler(CausalLm model, Config config) {
    this.model = model;
    this.config = config;
    this.capacity = Math.min(model.maxSeqLen(), config.contextLength());
    this.slotBusy = new boolean[model.slots()];
    this.thread = new Thread(this::loop, "decoder-scheduler");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Runs {@code r} (once) if the scheduler loop dies of something it could not survive, so that the server can turn
   * its health NOT_SERVING and Kubernetes replaces the pod; runs at once when it already died.
   */
  public void onFailure(Runnable r) {
    onFailure = r;
    if (failure != null) r.run();
  }

  /** What killed the loop, or null while it runs (or after a clean close). */
  public Throwable failure() {
    return failure;
  }

  /**
   * Queues a request. Validation happens here, on the caller's thread, so bad requests never reach the model.
   *
   * @throws RequestRejected when the request is invalid, cannot fit, the queue is full, or the scheduler is closed
   */
  public Handle submit(GenerationRequest request, GenerationListener listener) {
    validate(request);
    Seq s = new Seq(request, listener);
    lock.lock();
    try {
      if (failure != null) {
        throw new RequestRejected(RequestRejected.Reason.UNAVAILABLE, "the decoder's scheduler failed (" + failure
            + "); this replica is NOT_SERVING, retry on another");
      }
      if (closed) throw new RequestRejected(RequestRejected.Reason.UNAVAILABLE, "the decoder is shutting down");
      int free = 0;
      for (boolean b : slotBusy) if (!b) free++;
      int waitingWithThis = Math.max(0, queue.size() + 1 - free);
      if (waitingWithThis > config.maxQueue()) {
        throw new RequestRejected(RequestRejected.Reason.EXHAUSTED, "all " + slotBusy.length
            + " sequence slots are busy and " + queue.size() + " requests already wait (TANDEM_DECODER_MAX_QUEUE="
            + config.maxQueue() + "); retry later");
      }
      queue.addLast(s);
      wake.signal();
    } finally {
      lock.unlock();
    }
    return s;
  }

  private void validate(GenerationRequest r) {
    int[] ids = r.inputIds();
    int vocab = model.vocabSize();
    if (ids.length == 0) throw invalid("input_ids is empty; a prompt needs at least one token");
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab)
        throw invalid("input_ids[" + i + "] = " + ids[i] + " is outside the vocabulary [0, " + vocab + ")");
    }
    int hidden = model.hiddenSize();
    if (r.imageEmbeddings().length % hidden != 0) {
      throw invalid("image embeddings hold " + r.imageEmbeddings().length + " values, not a whole number of rows of "
          + "the model's hidden size " + hidden);
    }
    try {
      Splice.checkCounts(ids, r.imageTokenId(), r.imageEmbeddings().length / hidden);
    } catch (IllegalArgumentException e) {
      throw invalid(e.getMessage());
    }
    for (int id : r.settings().stopIds()) {
      if (id < 0 || id >= vocab) throw invalid("stop token id " + id + " is outside the vocabulary [0, " + vocab + ")");
    }
    if (ids.length >= config.contextLength()) {
      throw invalid("the prompt has " + ids.length + " tokens but the model's context is " + config.contextLength()
          + " tokens (prompt + new tokens); shorten the prompt");
    }
    if (ids.length >= model.maxSeqLen()) {
      throw new RequestRejected(RequestRejected.Reason.EXHAUSTED, "the prompt has " + ids.length
          + " tokens but a sequence's KV cache holds at most " + model.maxSeqLen()
          + " tokens on this server (TANDEM_DECODER_MAX_SEQ_LEN); shorten the prompt or raise the limit");
    }
  }

  private static RequestRejected invalid(String message) {
    return new RequestRejected(RequestRejected.Reason.INVALID, message);
  }

  public SchedulerMetrics metrics() {
    int queued;
    lock.lock();
    try {
      queued = queue.size();
    } finally {
      lock.unlock();
    }
    return new SchedulerMetrics(activeCount, queued, kvTokens, (long) slotBusy.length * model.maxSeqLen(), steps,
        tokens, stepNanos, modelNanos, finished);
  }

  /**
   * Runs requests through the whole path and waits for them, so the first real requests do not pay for lazy
   * initialisation: up to 4 prompts of up to 256 tokens submitted together (one stacked prefill, then batched decode
   * steps), because libtorch's first pass over that many rows costs ~2x a later one (fresh activation memory) and the
   * batched decode kernel is compiled on first use. Call before reporting SERVING.
   */
  public void warmUp(int tokenId) throws InterruptedException {
    int streams = Math.min(4, slotBusy.length);
    int len = Math.max(1, Math.min(256, Math.min(model.maxSeqLen(), config.contextLength()) - 3));
    CountDownLatch done = new CountDownLatch(streams);
    List<GenerationResult> out = new java.util.concurrent.CopyOnWriteArrayList<>();
    GenerationSettings s = new GenerationSettings(2, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0]);
    int[] prompt = new int[len];
    java.util.Arrays.fill(prompt, tokenId);
    for (int i = 0; i < streams; i++) {
      submit(new GenerationRequest("warm-up-" + i, prompt, new float[0], -1, s),
          new GenerationListener() {
            @Override
            public void onToken(int id) {}

            @Override
            public void onFinish(GenerationResult r) {
              out.add(r);
              done.countDown();
            }
          });
    }
    if (!done.await(10, TimeUnit.MINUTES)) throw new IllegalStateException("warm-up did not finish in 10 minutes");
    for (GenerationResult r : out) {
      if (r.reason() == FinishReason.ERROR) throw new IllegalStateException("warm-up failed: " + r.error());
    }
  }

  /** Stops the loop; waiting and running sequences end with ERROR "shutting down". Does not close the model. */
  @Override
  public void close() {
    close(java.time.Duration.ofMinutes(10));
  }

  /**
   * As {@link #close()}, waiting up to {@code wait} for the loop to end: a forward pass in flight finishes first
   * (the loop only checks {@code closed} between passes). Returns true when the loop ended, so the caller may free
   * the model; false when a pass still runs after the wait (then the model must stay).
   */
  public boolean close(java.time.Duration wait) {
    lock.lock();
    try {
      closed = true;
      wake.signalAll();
    } finally {
      lock.unlock();
    }
    try {
      thread.join(Math.max(1, wait.toMillis()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return !thread.isAlive();
  }

  // ---------------------------------------------------------------- scheduler thread

  private void loop() {
    try {
      while (true) {
        List<Seq> admit = new ArrayList<>();
        List<Seq> dropped = new ArrayList<>();
        lock.lock();
        try {
          while (!closed && queue.isEmpty() && active.isEmpty()) wake.await();
          if (closed) break;
          for (Iterator<Seq> it = queue.iterator(); it.hasNext(); ) {
            Seq s = it.next();
            if (s.cancelled) {
              it.remove();
              dropped.add(s);
            }
          }
          int budget = config.prefillTokensPerStep();
          boolean othersRunning = !active.isEmpty();
          int free = freeSlot();
          while (free >= 0 && !queue.isEmpty()) {
            Seq next = queue.peekFirst();
            int len = next.request.inputIds().length;
            if (othersRunning && !admit.isEmpty() && len > budget) break;
            queue.pollFirst();
            budget -= len;
            next.slot = free;
            slotBusy[free] = true;
            admit.add(next);
            free = freeSlot();
          }
        } finally {
          lock.unlock();
        }
        for (Seq s : dropped) s.finishEarly(FinishReason.CANCELLED, "");
        dropCancelled();
        prefill(admit);
        if (!active.isEmpty()) step();
        publish();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      log.log(Level.SEVERE, "scheduler loop died; health goes NOT_SERVING", t);
      failure = t;
      closed = true;
    }
    try {
      shutDown();
    } finally {
      if (failure != null) {
        try {
          onFailure.run();
        } catch (RuntimeException e) {
          log.log(Level.WARNING, "failure hook failed", e);
        }
      }
    }
  }

  private int freeSlot() {
    for (int i = 0; i < slotBusy.length; i++) if (!slotBusy[i]) return i;
    return -1;
  }

  private void dropCancelled() {
    for (Iterator<Seq> it = active.iterator(); it.hasNext(); ) {
      Seq s = it.next();
      if (s.cancelled) {
        it.remove();
        end(s, FinishReason.CANCELLED, "");
      }
    }
  }

  /**
   * Prefills the admitted sequences in one call, so the model can stack their prompts into one pass (each weight
   * matrix multiplied once for all of them). If that call fails, each is retried alone, so one bad request cannot
   * fail the others.
   */
  private void prefill(List<Seq> admit) {
    List<Seq> live = new ArrayList<>();
    long start = System.nanoTime();
    for (Seq s : admit) {
      s.admittedNanos = start;
      if (s.cancelled) end(s, FinishReason.CANCELLED, "");
      else live.add(s);
    }
    if (live.isEmpty()) return;
    if (live.size() == 1) {
      prefillAlone(live.get(0));
      return;
    }
    int n = live.size();
    int[] slots = new int[n];
    float[][] embeds = new float[n][];
    int[] lens = new int[n];
    float[][] logits;
    try {
      for (int i = 0; i < n; i++) {
        slots[i] = live.get(i).slot;
        embeds[i] = embeddings(live.get(i).request);
        lens[i] = live.get(i).request.inputIds().length;
      }
      logits = model.prefill(slots, embeds, lens);
    } catch (RuntimeException | Error e) { // an OutOfMemoryError too: retry each alone, then fail only the culprit
      log.log(Level.FINE, "stacked prefill of " + n + " sequences failed; prefilling each alone", e);
      for (Seq s : live) prefillAlone(s);
      return;
    }
    long took = System.nanoTime() - start;
    for (int i = 0; i < n; i++) started(live.get(i), logits[i], took);
  }

  private void prefillAlone(Seq s) {
    long start = System.nanoTime();
    GenerationRequest r = s.request;
    float[] logits;
    try {
      float[] embeds = embeddings(r);
      logits = model.prefill(s.slot, embeds, r.inputIds().length);
    } catch (RuntimeException | Error e) { // one request's Error ends that request, not the loop
      log.log(Level.WARNING, "prefill failed for " + r.requestId(), e);
      end(s, FinishReason.ERROR, "prefill failed: " + e);
      return;
    }
    started(s, logits, System.nanoTime() - start);
  }

  /** Token embeddings with the request's image embeddings spliced in at its image-token positions. */
  private float[] embeddings(GenerationRequest r) {
    float[] embeds = model.embed(r.inputIds());
    if (r.imageEmbeddings().length > 0) {
      Splice.splice(embeds, r.inputIds(), model.hiddenSize(), r.imageTokenId(), r.imageEmbeddings());
    }
    return embeds;
  }

  /** A prefilled sequence joins the batch and gets its first token from the prefill's logits. */
  private void started(Seq s, float[] logits, long prefillNanos) {
    s.prefillNanos = prefillNanos;
    active.add(s);
    publish(); // before the first token goes out, so metrics never lag behind what a client has seen
    if (!s.cancelled) accept(s, logits);
    if (s.done) active.remove(s);
  }

  private void step() {
    int n = active.size();
    int[] slots = new int[n];
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      slots[i] = active.get(i).slot;
      ids[i] = active.get(i).state.last();
    }
    long t0 = System.nanoTime();
    float[][] logits;
    try {
      logits = model.decode(slots, ids);
    } catch (RuntimeException | Error e) { // the batch's sequences end with ERROR; the loop and the slots go on
      log.log(Level.WARNING, "decode step failed for " + n + " sequences", e);
      for (Seq s : active) end(s, FinishReason.ERROR, "decode step failed: " + e);
      active.clear();
      return;
    }
    long t1 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      Seq s = active.get(i);
      if (s.cancelled) continue; // dropped (and its slot freed) right below
      accept(s, logits[i]);
    }
    long t2 = System.nanoTime();
    for (Seq s : active) {
      s.stepModelNanos += t1 - t0;
      s.stepTotalNanos += t2 - t0;
    }
    steps++;
    stepNanos += t2 - t0;
    modelNanos += t1 - t0;
    active.removeIf(s -> s.done);
    dropCancelled();
  }

  /** Picks, appends and emits the next token of {@code s} from its logits; ends it when a stop rule fires. */
  private void accept(Seq s, float[] logits) {
    int id;
    try {
      id = s.state.choose(logits);
    } catch (RuntimeException | Error e) {
      end(s, FinishReason.ERROR, "token selection failed: " + e);
      return;
    }
    s.state.append(id);
    long now = System.nanoTime();
    if (s.firstTokenNanos == 0) s.firstTokenNanos = now;
    s.lastTokenNanos = now;
    tokens++;
    try {
      s.listener.onToken(id);
    } catch (RuntimeException | Error e) {
      log.log(Level.FINE, "listener failed; cancelling " + s.request.requestId(), e);
      s.cancelled = true;
      return;
    }
    FinishReason why = StopRules.after(id, s.state.generated(), s.state.length(), capacity, s.request.settings());
    if (why != null) end(s, why, "");
  }

  /** Frees the slot and reports the result (once). The caller removes {@code s} from {@code active}. */
  private void end(Seq s, FinishReason reason, String error) {
    if (s.done) return;
    s.done = true;
    Error fatal = null;
    if (s.slot >= 0) {
      try {
        model.release(s.slot);
      } catch (RuntimeException e) {
        log.log(Level.WARNING, "release of slot " + s.slot + " failed", e);
      } catch (Error e) {
        fatal = e; // the model's state is unknown: tell this sequence's client first, then let the loop die
      }
      lock.lock();
      try {
        slotBusy[s.slot] = false;
      } finally {
        lock.unlock();
      }
    }
    finished++; // counted, like publish(), before the listener hears of the end: metrics never lag a client
    publish(); // before the listener hears of the end, so metrics never lag behind what a client has seen
    s.report(reason, error);
    if (fatal != null) throw fatal;
  }

  private void publish() {
    int n = 0;
    long kv = 0;
    for (Seq s : active) {
      if (s.done) continue;
      n++;
      kv += s.state.length();
    }
    activeCount = n;
    kvTokens = kv;
  }

  private void shutDown() {
    String why = failure != null ? "the decoder's scheduler failed: " + failure : "the decoder is shutting down";
    for (Seq s : active) {
      try {
        end(s, FinishReason.ERROR, why);
      } catch (RuntimeException | Error e) { // every client still hears of its end
        log.log(Level.WARNING, "ending " + s.request.requestId() + " failed", e);
      }
    }
    active.clear();
    List<Seq> waiting;
    lock.lock();
    try {
      closed = true;
      waiting = new ArrayList<>(queue);
      queue.clear();
    } finally {
      lock.unlock();
    }
    for (Seq s : waiting) s.finishEarly(FinishReason.ERROR, why);
    publish();
  }

  /** One request's life in the scheduler. Fields other than {@code cancelled} belong to the scheduler thread. */
  private final class Seq implements Handle {
    final GenerationRequest request;
    final GenerationListener listener;
    final SequenceState state;
    final long arrivalNanos = System.nanoTime();
    volatile boolean cancelled;
    boolean done;
    int slot = -1;
    long admittedNanos;
    long prefillNanos;
    long firstTokenNanos;
    long lastTokenNanos;
    long stepModelNanos;
    long stepTotalNanos;

    Seq(GenerationRequest request, GenerationListener listener) {
      this.request = request;
      this.listener = listener;
      this.state = new SequenceState(request.inputIds(), request.settings());
    }

    @Override
    public void cancel() {
      if (cancelled) return;
      cancelled = true;
      lock.lock();
      try {
        wake.signal();
      } finally {
        lock.unlock();
      }
    }

    void finishEarly(FinishReason reason, String error) {
      done = true;
      finished++;
      report(reason, error);
    }

    void report(FinishReason reason, String error) {
      double ttft = firstTokenNanos == 0 ? 0 : (firstTokenNanos - arrivalNanos) / 1e6;
      double decode = firstTokenNanos == 0 ? 0 : (lastTokenNanos - firstTokenNanos) / 1e6;
      double queued = ((admittedNanos == 0 ? System.nanoTime() : admittedNanos) - arrivalNanos) / 1e6;
      GenerationResult r = new GenerationResult(reason, request.inputIds().length, state.generated(), ttft, decode,
          queued, prefillNanos / 1e6, stepModelNanos / 1e6, stepTotalNanos / 1e6, error);
      try {
        listener.onFinish(r);
      } catch (RuntimeException | Error e) { // one client's listener cannot end the loop for all
        log.log(Level.FINE, "listener failed on finish of " + request.requestId(), e);
      }
    }
  }
}
