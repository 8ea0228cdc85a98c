package tandem.decoder.generate;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.error.Rejection;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.KvExhaustedException;
import tandem.decoder.model.KvStats;
import tandem.decoder.model.PrefixKey;

/**
 * Continuous batching over a {@link CausalLm}: one thread owns the model and loops
 *
 * <ol>
 *   <li>drop cancelled sequences (free their KV) and cancelled queued requests;
 *   <li>admit queued requests into free slots while the KV cache has room for their prompts. With a
 *       paged KV cache, the longest run of full blocks already cached for the same prefix (system
 *       prompt, image, earlier turns) is reused, and only the rest is computed ({@code
 *       cached_prompt_tokens});
 *   <li>run one step: a row for every decoding sequence plus rows of pending prompts up to {@code
 *       prefillTokensPerStep} rows in all (chunked prefill; at least {@link #MIN_CHUNK} prompt
 *       rows), in one pass when the model can ({@link CausalLm#chunkedPrefill}), so a long new
 *       prompt slows the running streams by a chunk per step instead of stalling them for its whole
 *       prefill. When nothing decodes, or prompts outnumber the decoding streams by {@link
 *       Config#waitingServedRatio}, the step takes up to {@link #SOLO_PREFILL_ROWS} prompt rows
 *       instead, so prompts that arrive together start decoding together. Models that prefill whole
 *       prompts only get the admitted prompts stacked into one prefill call, then a decode step.
 *   <li>emit one token per decoding sequence (and the first token of each prompt whose last chunk
 *       ran); finished sequences leave at once, their full KV blocks go to the prefix cache and
 *       their slot is reused.
 * </ol>
 *
 * When a step needs more KV blocks than the budget has free (after evicting unreferenced cached
 * blocks), the newest sequence is preempted: its blocks are offered to the prefix cache and freed,
 * and it goes back to the head of the queue, to be recomputed (mostly from the cache) when there is
 * room. A sequence that alone fills the budget ends with LENGTH. Each sequence keeps its own
 * processor state and RNG, and the model computes each row of a pass independently (bit for bit),
 * so the ids a sequence gets depend neither on what it is batched with nor on chunk sizes, reuse or
 * preemption.
 */
public final class Scheduler implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Scheduler.class);

  /**
   * Prompt rows per step when no sequence is decoding (nothing to keep streaming), or when prompts
   * outnumber the decoding streams ({@link Config#waitingServedRatio}): bigger passes, same
   * results. Eight 128-token prompts fit; the Java kernel's cost per row is flat above its 128-row
   * block, so the bound only caps how long one such step runs (about 4 s on 2 cores).
   */
  static final int SOLO_PREFILL_ROWS = 1024;

  /**
   * Prompt rows a step gives pending prompts even when decode rows fill its budget, so prefill
   * never starves.
   */
  static final int MIN_CHUNK = 16;

  /** The longest wait of an idle scheduler's first step, in {@link Config#batchWaitMillis}. */
  static final int BATCH_WAIT_ROUNDS = 10;

  /**
   * @param maxQueue requests that may wait for a slot; more are refused as OVERLOADED
   * @param contextLength the model's context (max_position_embeddings); longer prompts are INVALID
   * @param prefillTokensPerStep rows per step, decoding rows included (chunked prefill: prompts get
   *     the rest, at least {@link #MIN_CHUNK}; up to {@link #SOLO_PREFILL_ROWS} when nothing
   *     decodes); for a model that prefills whole prompts, prompt tokens admitted per round while
   *     others decode (at least one request is always admitted when a slot is free)
   * @param limits how refusals name the settings behind these limits
   * @param waitingServedRatio when the prompts being prefilled number at least this times the
   *     decoding streams, a step takes up to {@link #SOLO_PREFILL_ROWS} prompt rows, as when
   *     nothing decodes, instead of a chunk: the streams wait one long step, and the prompts that
   *     arrived together start decoding together (Hugging Face TGI's waiting_served_ratio). 0 =
   *     never
   * @param batchWaitMillis when a request arrives at an idle scheduler, the first step waits until
   *     none has arrived for this long (at most {@link #BATCH_WAIT_ROUNDS} times it in all, and no
   *     longer once the free slots are taken), so that requests sent together are prefilled
   *     together. 0 = the first step starts at once
   */
  public record Config(
      int maxQueue,
      int contextLength,
      int prefillTokensPerStep,
      LimitNames limits,
      double waitingServedRatio,
      int batchWaitMillis) {
    /** Prompts never take a long step while streams decode; the first step never waits. */
    public Config(int maxQueue, int contextLength, int prefillTokensPerStep, LimitNames limits) {
      this(maxQueue, contextLength, prefillTokensPerStep, limits, 0, 0);
    }

    public Config {
      if (batchWaitMillis < 0)
        throw new IllegalArgumentException("batchWaitMillis must be >= 0, got " + batchWaitMillis);
      if (!(waitingServedRatio >= 0))
        throw new IllegalArgumentException(
            "waitingServedRatio must be >= 0, got " + waitingServedRatio);
      if (maxQueue < 0)
        throw new IllegalArgumentException("maxQueue must be >= 0, got " + maxQueue);
      if (contextLength < 2)
        throw new IllegalArgumentException("contextLength must be >= 2, got " + contextLength);
      if (prefillTokensPerStep < 1)
        throw new IllegalArgumentException(
            "prefillTokensPerStep must be >= 1, got " + prefillTokensPerStep);
      Objects.requireNonNull(limits, "limits");
    }
  }

  /**
   * The names an operator changes a limit by (the settings layer's: environment variables), for the
   * refusals that tell a client which limit it hit; the scheduler itself knows no setting.
   *
   * @param maxQueue the most requests waiting for a slot
   * @param maxSeqLen the longest sequence a slot holds
   * @param kvCacheBytes the KV cache budget
   */
  public record LimitNames(String maxQueue, String maxSeqLen, String kvCacheBytes) {}

  /** The caller's grip on a submitted request. */
  public interface Handle {
    /**
     * Stops the sequence within one step and frees its slot; idempotent, callable from any thread.
     */
    void cancel();
  }

  private enum Phase {
    WAITING,
    PREFILL,
    DECODE
  }

  private final CausalLm model;
  private final Config config;
  private final int capacity;
  private final boolean chunked;

  /** Positions per KV block; 0 when the model's KV is not paged. */
  private final int blockTokens;

  private final boolean prefixCaching;
  private final KvStats kvAtStart;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  private final ArrayDeque<Seq> queue = new ArrayDeque<>();

  /** Sequences holding a slot (prefilling or decoding), in admission order. */
  private final List<Seq> running = new ArrayList<>();

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
  private volatile long cachedPromptTokens;
  private volatile long preemptions;
  private volatile KvStats kv;

  public Scheduler(CausalLm model, Config config) {
    this.model = model;
    this.config = config;
    this.capacity = Math.min(model.maxSeqLen(), config.contextLength());
    this.chunked = model.chunkedPrefill();
    this.blockTokens = model.kvBlockTokens();
    this.prefixCaching = blockTokens > 0 && model.prefixCaching();
    this.kvAtStart = model.kvStats();
    this.kv = kvAtStart;
    this.slotBusy = new boolean[model.slots()];
    this.thread = new Thread(this::loop, "decoder-scheduler");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Runs {@code r} (once) if the scheduler loop dies of something it could not survive, so that the
   * server can turn its health NOT_SERVING and Kubernetes replaces the pod; runs at once when it
   * already died.
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
   * Queues a request. Validation happens here, on the caller's thread, so bad requests never reach
   * the model.
   *
   * @throws Rejection INVALID for a malformed request or one longer than the model's context,
   *     TOO_LARGE when it can never fit this server (a slot or the whole KV budget), OVERLOADED
   *     when the queue is full (not now), UNAVAILABLE when the scheduler is closed or failed
   */
  public Handle submit(GenerationRequest request, GenerationListener listener) {
    validate(request);
    Seq s = new Seq(request, listener);
    if (prefixCaching) {
      // The prompt's block keys hash every image row it splices (megabytes for an image prompt):
      // refuse first if it would be refused anyway, then hash here, on the caller's thread, rather
      // than in the decode loop when the request is admitted.
      lock.lock();
      try {
        checkAdmissible();
      } finally {
        lock.unlock();
      }
      s.keys().upTo(request.inputIds(), request.inputIds().length);
    }
    lock.lock();
    try {
      checkAdmissible();
      queue.addLast(s);
      wake.signal();
    } finally {
      lock.unlock();
    }
    return s;
  }

  /**
   * Throws the refusal a new request gets now, if any (failed, closing, queue full). Holds lock.
   */
  private void checkAdmissible() {
    if (failure != null) {
      throw Rejection.unavailable(
          "the decoder's scheduler failed ("
              + failure
              + "); this replica is NOT_SERVING, retry on another");
    }
    if (closed) throw Rejection.unavailable("the decoder is shutting down");
    int waiting = waiting();
    int waitingWithThis = Math.max(0, waiting + 1 - freeSlots());
    if (waitingWithThis > config.maxQueue()) {
      throw Rejection.overloaded(
          "all "
              + slotBusy.length
              + " sequence slots are busy and "
              + waiting
              + " requests already wait ("
              + config.limits().maxQueue()
              + "="
              + config.maxQueue()
              + "); retry later");
    }
  }

  private void validate(GenerationRequest r) {
    int[] ids = r.inputIds();
    int vocab = model.vocabSize();
    if (ids.length == 0)
      throw Rejection.invalid("input_ids is empty; a prompt needs at least one token");
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab)
        throw Rejection.invalid(
            "input_ids[" + i + "] = " + ids[i] + " is outside the vocabulary [0, " + vocab + ")");
    }
    int hidden = model.hiddenSize();
    if (r.imageEmbeddings().length % hidden != 0) {
      throw Rejection.invalid(
          "image embeddings hold "
              + r.imageEmbeddings().length
              + " values, not a whole number"
              + " of rows of the model's hidden size "
              + hidden);
    }
    try {
      Splice.checkCounts(ids, r.imageTokenId(), r.imageEmbeddings().length / hidden);
    } catch (IllegalArgumentException e) {
      throw Rejection.invalid(e.getMessage());
    }
    for (int id : r.settings().stopIds()) {
      if (id < 0 || id >= vocab) {
        throw Rejection.invalid(
            "stop token id " + id + " is outside the vocabulary [0, " + vocab + ")");
      }
    }
    if (ids.length >= config.contextLength()) {
      throw Rejection.invalid(
          "the prompt has "
              + ids.length
              + " tokens but the model's context is "
              + config.contextLength()
              + " tokens (prompt + new tokens); shorten the prompt");
    }
    if (ids.length >= model.maxSeqLen()) {
      throw Rejection.tooLarge(
          "the prompt has "
              + ids.length
              + " tokens but a sequence's KV cache holds at most "
              + model.maxSeqLen()
              + " tokens on this server ("
              + config.limits().maxSeqLen()
              + "); shorten the prompt or raise the limit");
    }
    if (kvAtStart != null && blocks(ids.length + 1) > kvAtStart.capacityBlocks()) {
      long budget = kvAtStart.capacityBlocks() * kvAtStart.blockBytes();
      throw Rejection.tooLarge(
          "the prompt has "
              + ids.length
              + " tokens but the decoder's whole KV cache budget holds "
              + (long) kvAtStart.capacityBlocks() * blockTokens
              + " tokens ("
              + (budget >> 20)
              + " MiB of "
              + kvAtStart.dtype()
              + ", "
              + config.limits().kvCacheBytes()
              + "); shorten the prompt or raise the budget");
    }
  }

  /**
   * Queued requests not cancelled. Holds lock. A cancelled one leaves the queue only when the loop
   * comes round, which a long step (up to a whole prefill chunk of rows) puts off; it must not keep
   * a new request out meanwhile.
   */
  private int waiting() {
    int n = 0;
    for (Seq q : queue) if (!q.cancelled) n++;
    return n;
  }

  private int queuedCount() {
    lock.lock();
    try {
      return waiting();
    } finally {
      lock.unlock();
    }
  }

  private int blocks(int positions) {
    return (positions + blockTokens - 1) / blockTokens;
  }

  public SchedulerMetrics metrics() {
    int queued = queuedCount();
    KvStats k = kv;
    long kvCapacity =
        k == null
            ? (long) slotBusy.length * model.maxSeqLen()
            : (long) k.capacityBlocks() * blockTokens;
    return new SchedulerMetrics(
        activeCount,
        queued,
        kvTokens,
        kvCapacity,
        steps,
        tokens,
        stepNanos,
        modelNanos,
        finished,
        cachedPromptTokens,
        preemptions,
        k);
  }

  /**
   * Runs requests through the whole path and waits for them, so the first real requests do not pay
   * for lazy initialisation: up to 4 prompts of up to 256 tokens (fewer when the KV budget holds
   * fewer) submitted together (one stacked prefill, then batched decode steps), because libtorch's
   * first pass over that many rows costs ~2x a later one (fresh activation memory) and the batched
   * decode kernel is compiled on first use. Call before reporting SERVING.
   */
  public void warmUp(int tokenId) throws InterruptedException {
    int streams = Math.min(4, slotBusy.length);
    int len = Math.max(1, Math.min(256, Math.min(model.maxSeqLen(), config.contextLength()) - 3));
    // within the KV budget, which the start accepts down to one block: a prompt validate() refuses
    // would stop the server from ever starting (the four take turns through preemption)
    if (kvAtStart != null)
      len = (int) Math.max(1, Math.min(len, (long) kvAtStart.capacityBlocks() * blockTokens - 1));
    CountDownLatch done = new CountDownLatch(streams);
    List<GenerationResult> out = new java.util.concurrent.CopyOnWriteArrayList<>();
    GenerationSettings s = new GenerationSettings(2, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0]);
    int[] prompt = new int[len];
    java.util.Arrays.fill(prompt, tokenId);
    for (int i = 0; i < streams; i++) {
      submit(
          new GenerationRequest("warm-up-" + i, prompt, new float[0], -1, s),
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
    if (!done.await(10, TimeUnit.MINUTES))
      throw new IllegalStateException("warm-up did not finish in 10 minutes");
    for (GenerationResult r : out) {
      if (r.reason() == FinishReason.ERROR)
        throw new IllegalStateException("warm-up failed: " + r.error());
    }
  }

  /**
   * Stops the loop; waiting and running sequences end with ERROR "shutting down". Does not close
   * the model.
   */
  @Override
  public void close() {
    close(java.time.Duration.ofMinutes(10));
  }

  /**
   * As {@link #close()}, waiting up to {@code wait} for the loop to end: a forward pass in flight
   * finishes first (the loop only checks {@code closed} between passes). Returns true when the loop
   * ended, so the caller may free the model; false when a pass still runs after the wait (then the
   * model must stay).
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
        List<Seq> dropped = new ArrayList<>();
        lock.lock();
        try {
          while (!closed && queue.isEmpty() && running.isEmpty()) wake.await();
          if (running.isEmpty()) gatherArrivals();
          if (closed) break;
          for (Iterator<Seq> it = queue.iterator(); it.hasNext(); ) {
            Seq s = it.next();
            if (s.cancelled) {
              it.remove();
              dropped.add(s);
            }
          }
        } finally {
          lock.unlock();
        }
        for (Seq s : dropped) s.finishEarly(FinishReason.CANCELLED, "");
        dropCancelled();
        admit();
        if (!running.isEmpty()) step();
        publish();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      log.error("scheduler loop died; health goes NOT_SERVING", t);
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
          log.warn("failure hook failed", e);
        }
      }
    }
  }

  /**
   * At an idle scheduler: waits while requests keep arriving (see {@link Config#batchWaitMillis}).
   * Holds lock.
   */
  private void gatherArrivals() throws InterruptedException {
    long gap = TimeUnit.MILLISECONDS.toNanos(config.batchWaitMillis());
    if (gap == 0) return;
    long end = System.nanoTime() + BATCH_WAIT_ROUNDS * gap;
    int free = freeSlots();
    int seen = queue.size();
    while (!closed && seen < free) {
      long until = Math.min(end, System.nanoTime() + gap);
      while (!closed && queue.size() == seen) {
        long left = until - System.nanoTime();
        if (left <= 0) return; // none arrived within the gap, or the whole wait is over
        wake.awaitNanos(left);
      }
      seen = queue.size();
    }
  }

  /** Slots no sequence holds. Holds lock. */
  private int freeSlots() {
    int free = 0;
    for (boolean b : slotBusy) if (!b) free++;
    return free;
  }

  private int freeSlot() {
    for (int i = 0; i < slotBusy.length; i++) if (!slotBusy[i]) return i;
    return -1;
  }

  /**
   * Moves queued requests into free slots, oldest first, while the KV cache has room for their
   * prompts (what the prefix cache already holds is taken first and not counted). For a model that
   * prefills whole prompts, at most {@code prefillTokensPerStep} prompt tokens are admitted per
   * round while others run (at least one request).
   */
  private void admit() {
    int budget = config.prefillTokensPerStep();
    boolean othersRunning = !running.isEmpty();
    int admitted = 0;
    // blocks already promised: the rest of each admitted prompt, and the next position of each
    // decoding sequence
    int promised = 0;
    if (blockTokens > 0) {
      for (Seq s : running)
        promised += s.phase == Phase.PREFILL ? model.kvShortfall(s.slot, s.target()) : 1;
    }
    while (true) {
      Seq next;
      int slot;
      lock.lock();
      try {
        next = queue.peekFirst();
        slot = freeSlot();
      } finally {
        lock.unlock();
      }
      if (next == null || slot < 0) return;
      if (next.cancelled) {
        removeQueued(next);
        next.finishEarly(FinishReason.CANCELLED, "");
        continue;
      }
      int target = next.target();
      if (!chunked) {
        if (othersRunning && admitted > 0 && target > budget) return;
        budget -= target;
      }
      int reused = 0;
      if (blockTokens > 0) {
        try {
          if (prefixCaching) {
            int[] toks = next.state.tokens();
            // a new prompt computes at least its last position (its logits give the first token)
            int most = next.resumed ? target / blockTokens : (target - 1) / blockTokens;
            PrefixKey[] keys = next.keys().upTo(toks, target);
            reused = model.reuse(slot, keys, most);
            if (!next.resumed && reused == most * blockTokens && keys.length > most) {
              // cached to its end (a whole number of blocks): the last block is taken as a copy
              // and only the last position is computed again, not the whole block
              int copied = model.reuseCopy(slot, keys[most], target - 1, promised);
              if (copied > 0) reused = copied;
            }
          }
          int need = model.kvShortfall(slot, target);
          if (need + promised > model.kvStats().availableBlocks()) {
            model.release(slot); // the reused blocks go back to the cache
            if (running
                .isEmpty()) { // nothing will free blocks: it can never fit (only a resumed long
              // sequence)
              removeQueued(next);
              next.finishEarly(FinishReason.LENGTH, "");
              continue;
            }
            return;
          }
          promised += need;
        } catch (RuntimeException e) {
          log.warn("admission failed for {}", next.request.requestId(), e);
          model.release(slot);
          removeQueued(next);
          next.finishEarly(FinishReason.ERROR, "admission failed: " + e);
          continue;
        }
      }
      removeQueued(next);
      lock.lock();
      try {
        slotBusy[slot] = true;
      } finally {
        lock.unlock();
      }
      next.slot = slot;
      next.fed = reused;
      next.phase = reused == target ? Phase.DECODE : Phase.PREFILL;
      if (next.admittedNanos == 0) {
        next.admittedNanos = System.nanoTime();
        next.cachedTokens = reused;
        cachedPromptTokens += reused;
      }
      running.add(next);
      admitted++;
    }
  }

  private void removeQueued(Seq s) {
    lock.lock();
    try {
      queue.remove(s);
    } finally {
      lock.unlock();
    }
  }

  private void dropCancelled() {
    for (Iterator<Seq> it = running.iterator(); it.hasNext(); ) {
      Seq s = it.next();
      if (s.cancelled) {
        it.remove();
        end(s, FinishReason.CANCELLED, "");
      }
    }
  }

  /**
   * One part of a step: {@code rows} positions of {@code seq} from {@code seq.fed} (a decode row is
   * one).
   */
  private record Part(Seq seq, int rows, boolean decode) {
    /** The first position this part computes. */
    int from() {
      return decode ? seq.state.length() - 1 : seq.fed;
    }

    /** Positions the sequence holds after this part. */
    int end() {
      return from() + rows;
    }
  }

  /**
   * One step: a row for each decoding sequence plus chunks of pending prompts (all of them, whole,
   * for a model without chunked prefill), room made in the KV cache first, then one pass (or a
   * stacked prefill and a decode).
   */
  private void step() {
    List<Part> parts = new ArrayList<>();
    int prefilling = 0;
    for (Seq s : running) {
      if (s.done || s.cancelled) continue;
      if (s.phase == Phase.DECODE) parts.add(new Part(s, 1, true));
      else prefilling++;
    }
    int decoding = parts.size();
    double ratio = config.waitingServedRatio();
    boolean promptsFirst = decoding == 0 || ratio > 0 && prefilling >= ratio * decoding;
    // decode rows count against the budget: the Java kernel reads the weights once per 128 rows
    // (PackedMatrix's row block), so 7 decode rows beside a 128-row chunk would cost a second pass
    int budget =
        promptsFirst
            ? Math.max(config.prefillTokensPerStep(), SOLO_PREFILL_ROWS)
            : Math.max(
                config.prefillTokensPerStep() - parts.size(),
                Math.min(config.prefillTokensPerStep(), MIN_CHUNK));
    for (Seq s : running) {
      if (s.phase != Phase.PREFILL || s.done || s.cancelled) continue;
      int n = s.target() - s.fed;
      if (chunked) {
        if (budget <= 0) break;
        n = Math.min(n, budget);
        budget -= n;
      }
      parts.add(new Part(s, n, false));
    }
    if (blockTokens > 0) makeRoom(parts);
    if (parts.isEmpty()) return;
    long t0 = System.nanoTime();
    float[][] logits = chunked ? extend(parts) : prefillThenDecode(parts);
    long t1 = System.nanoTime();
    int n = parts.size();
    Seq[] taking = new Seq[n]; // the sequences that take a token from their part's logits
    for (int i = 0; i < n; i++) {
      Part p = parts.get(i);
      Seq s = p.seq;
      if (s.done) continue; // its part failed and ended it
      if (p.decode) {
        if (!s.cancelled) taking[i] = s;
        continue;
      }
      s.fed += p.rows;
      s.prefillNanos += t1 - t0;
      if (s.fed < s.target()) continue;
      s.phase = Phase.DECODE;
      offer(s);
      if (!s.resumed && !s.cancelled) taking[i] = s;
    }
    // Each sequence's processors and draw depend on its own state alone, so the rows choose on the
    // CPU compute threads, idle until the next pass: sampling costs 0.2-1.8 ms a row over Qwen's
    // 151,936 logits (top-k 50 to top-k off with top-p), which the scheduler thread alone paid row
    // after row.
    int[] ids = new int[n];
    Throwable[] failed = new Throwable[n];
    model.forEachRow(
        n,
        i -> {
          if (taking[i] == null) return;
          try {
            ids[i] = taking[i].state.choose(logits[i]);
          } catch (RuntimeException | Error e) {
            failed[i] = e;
          }
        });
    for (int i = 0; i < n; i++) if (taking[i] != null) accept(taking[i], ids[i], failed[i]);
    long t2 = System.nanoTime();
    for (Part p : parts) {
      if (!p.decode) continue;
      p.seq.stepModelNanos += t1 - t0;
      p.seq.stepTotalNanos += t2 - t0;
    }
    steps++;
    stepNanos += t2 - t0;
    modelNanos += t1 - t0;
    running.removeIf(x -> x.done);
    dropCancelled();
  }

  /**
   * Fits the step into the KV budget: drops prompt chunks from the end, then preempts the newest
   * sequences, until the fresh blocks the step needs are available. A sequence left alone that
   * still does not fit ends with LENGTH.
   */
  private void makeRoom(List<Part> parts) {
    while (!parts.isEmpty()) {
      int need = 0;
      for (Part p : parts) need += model.kvShortfall(p.seq.slot, p.end());
      if (need <= model.kvStats().availableBlocks()) return;
      Part last = parts.get(parts.size() - 1);
      if (!last.decode && parts.size() > 1) {
        parts.remove(parts.size() - 1);
        continue;
      }
      Seq victim = running.get(running.size() - 1);
      parts.removeIf(p -> p.seq == victim);
      if (running.size() == 1) {
        log.info("{} alone fills the KV budget; it ends with LENGTH", victim.request.requestId());
        running.remove(victim);
        end(victim, FinishReason.LENGTH, "");
        return;
      }
      preempt(victim);
    }
  }

  /**
   * Frees a running sequence's KV (its full blocks stay in the prefix cache) and queues it first,
   * to resume.
   */
  private void preempt(Seq s) {
    offer(s);
    running.remove(s);
    model.release(s.slot);
    unbusy(s);
    s.phase = Phase.WAITING;
    s.resumed = s.state.generated() > 0;
    s.fed = 0;
    preemptions++;
    lock.lock();
    try {
      queue.addFirst(s);
    } finally {
      lock.unlock();
    }
  }

  /** The full blocks the sequence's KV holds go to the prefix cache (when it is on). */
  private void offer(Seq s) {
    if (!prefixCaching || s.slot < 0) return;
    try {
      model.offer(s.slot, s.keys().upTo(s.state.tokens(), model.length(s.slot)));
    } catch (RuntimeException e) {
      log.warn("offering the KV of {} to the prefix cache failed", s.request.requestId(), e);
    }
  }

  /**
   * The step as one {@link CausalLm#extend} pass. If it fails, the decode rows are retried together
   * and each chunk alone, so one bad prompt cannot fail the others. Returns logits per part (null
   * where none were wanted or the part failed and was ended).
   */
  private float[][] extend(List<Part> parts) {
    int n = parts.size();
    try {
      return extendOnce(parts);
    } catch (RuntimeException | Error e) { // an OutOfMemoryError too
      if (n == 1) {
        fail(parts.get(0), e);
        return new float[1][];
      }
      log.debug("a step of {} parts failed; retrying its parts apart", n, e);
    }
    float[][] out = new float[n][];
    List<Part> decodes = new ArrayList<>();
    for (Part p : parts) if (p.decode) decodes.add(p);
    if (!decodes.isEmpty()) {
      try {
        float[][] l = extendOnce(decodes);
        int k = 0;
        for (int i = 0; i < n; i++) if (parts.get(i).decode) out[i] = l[k++];
      } catch (RuntimeException | Error e) {
        for (Part p : decodes) fail(p, e);
      }
    }
    for (int i = 0; i < n; i++) {
      Part p = parts.get(i);
      if (p.decode) continue;
      try {
        out[i] = extendOnce(List.of(p))[0];
      } catch (RuntimeException | Error e) {
        fail(p, e);
      }
    }
    return out;
  }

  private float[][] extendOnce(List<Part> parts) {
    int n = parts.size();
    int[] slots = new int[n];
    float[][] embeds = new float[n][];
    int[] lens = new int[n];
    boolean[] want = new boolean[n];
    for (int i = 0; i < n; i++) {
      Part p = parts.get(i);
      slots[i] = p.seq.slot;
      embeds[i] = embeddings(p.seq, p.from(), p.rows);
      lens[i] = p.rows;
      want[i] = p.decode || !p.seq.resumed && p.seq.fed + p.rows == p.seq.target();
    }
    return model.extend(slots, embeds, lens, want);
  }

  /** A part whose pass failed ends its sequence with ERROR (the loop and the other slots go on). */
  private void fail(Part p, Throwable e) {
    String what = p.decode ? "decode step" : "prefill";
    log.warn("{} failed for {}", what, p.seq.request.requestId(), e);
    running.remove(p.seq);
    String budget =
        e instanceof KvExhaustedException
            ? " (the KV budget is " + config.limits().kvCacheBytes() + ")"
            : "";
    end(p.seq, FinishReason.ERROR, what + " failed: " + e + budget);
  }

  /**
   * For a model that prefills whole prompts: the pending prompts in one stacked call (each retried
   * alone if that fails), then one batched decode over the decoding rows.
   */
  private float[][] prefillThenDecode(List<Part> parts) {
    int n = parts.size();
    float[][] out = new float[n][];
    List<Integer> pre = new ArrayList<>();
    List<Integer> dec = new ArrayList<>();
    for (int i = 0; i < n; i++) (parts.get(i).decode ? dec : pre).add(i);
    if (pre.size() == 1) {
      out[pre.get(0)] = prefillAlone(parts.get(pre.get(0)));
    } else if (!pre.isEmpty()) {
      int m = pre.size();
      int[] slots = new int[m];
      float[][] embeds = new float[m][];
      int[] lens = new int[m];
      try {
        for (int j = 0; j < m; j++) {
          Seq s = parts.get(pre.get(j)).seq;
          slots[j] = s.slot;
          embeds[j] = embeddings(s, 0, s.target());
          lens[j] = s.target();
        }
        float[][] l = model.prefill(slots, embeds, lens);
        for (int j = 0; j < m; j++) out[pre.get(j)] = l[j];
      } catch (RuntimeException
          | Error e) { // an OutOfMemoryError too: retry each alone, then fail only the culprit
        log.debug("stacked prefill of {} sequences failed; prefilling each alone", m, e);
        for (int i : pre) out[i] = prefillAlone(parts.get(i));
      }
    }
    if (!dec.isEmpty()) {
      int m = dec.size();
      int[] slots = new int[m];
      int[] ids = new int[m];
      for (int j = 0; j < m; j++) {
        Seq s = parts.get(dec.get(j)).seq;
        slots[j] = s.slot;
        ids[j] = s.state.last();
      }
      try {
        float[][] l = model.decode(slots, ids);
        for (int j = 0; j < m; j++) out[dec.get(j)] = l[j];
      } catch (RuntimeException
          | Error e) { // the batch's sequences end with ERROR; the loop and the slots go on
        log.warn("decode step failed for {} sequences", m, e);
        for (int i : dec) fail(parts.get(i), e);
      }
    }
    return out;
  }

  private float[] prefillAlone(Part p) {
    Seq s = p.seq;
    try {
      return model.prefill(s.slot, embeddings(s, 0, s.target()), s.target());
    } catch (RuntimeException | Error e) { // one request's Error ends that request, not the loop
      fail(p, e);
      return null;
    }
  }

  /**
   * Input rows for positions [from, from + n) of the sequence: token embeddings, with the request's
   * image rows at its image-token positions of the prompt.
   */
  private float[] embeddings(Seq s, int from, int n) {
    int[] ids = java.util.Arrays.copyOfRange(s.state.tokens(), from, from + n);
    float[] embeds = model.embed(ids);
    float[] rows = s.request.imageEmbeddings();
    if (rows.length == 0) return embeds;
    int h = model.hiddenSize();
    int[] rowOf = s.imageRowOf();
    for (int p = from; p < from + n && p < rowOf.length; p++) {
      if (rowOf[p] >= 0) System.arraycopy(rows, rowOf[p] * h, embeds, (p - from) * h, h);
    }
    return embeds;
  }

  /**
   * Appends and emits the token chosen for {@code s} ({@link #step} chose it, on the model's
   * threads), or ends it with ERROR when choosing failed; ends it when a stop rule fires.
   */
  private void accept(Seq s, int id, Throwable chooseFailure) {
    if (chooseFailure != null) {
      end(s, FinishReason.ERROR, "token selection failed: " + chooseFailure);
      return;
    }
    s.state.append(id);
    long now = System.nanoTime();
    if (s.firstTokenNanos == 0) {
      s.firstTokenNanos = now;
      publish(); // before the first token goes out, so metrics never lag behind what a client has
      // seen
    }
    s.lastTokenNanos = now;
    tokens++;
    try {
      s.listener.onToken(id);
    } catch (RuntimeException | Error e) {
      log.debug("listener failed; cancelling {}", s.request.requestId(), e);
      s.cancelled = true;
      return;
    }
    FinishReason why =
        StopRules.after(id, s.state.generated(), s.state.length(), capacity, s.request.settings());
    if (why != null) end(s, why, "");
  }

  /**
   * Frees the slot (offering its full blocks to the prefix cache) and reports the result (once).
   */
  private void end(Seq s, FinishReason reason, String error) {
    if (s.done) return;
    s.done = true;
    Error fatal = null;
    if (s.slot >= 0) {
      if (reason != FinishReason.ERROR) offer(s);
      try {
        model.release(s.slot);
      } catch (RuntimeException e) {
        log.warn("release of slot {} failed", s.slot, e);
      } catch (Error e) {
        fatal =
            e; // the model's state is unknown: tell this sequence's client first, then let the loop
        // die
      }
      unbusy(s);
    }
    finished++; // counted, like publish(), before the listener hears of the end: metrics never lag
    // a client
    publish(); // before the listener hears of the end, so metrics never lag behind what a client
    // has seen
    s.report(reason, error);
    if (fatal != null) throw fatal;
  }

  /** Marks the sequence's slot free for admission (its KV was released by the caller). */
  private void unbusy(Seq s) {
    if (s.slot < 0) return;
    lock.lock();
    try {
      slotBusy[s.slot] = false;
    } finally {
      lock.unlock();
    }
    s.slot = -1;
  }

  private void publish() {
    int n = 0;
    long held = 0;
    for (Seq s : running) {
      if (s.done) continue;
      n++;
      // a decoding sequence's newest token is not in the cache until the next step feeds it
      held += s.phase == Phase.DECODE ? s.state.length() - 1 : s.fed;
    }
    activeCount = n;
    kvTokens = held;
    if (blockTokens > 0) kv = model.kvStats();
  }

  private void shutDown() {
    String why =
        failure != null
            ? "the decoder's scheduler failed: " + failure
            : "the decoder is shutting down";
    for (Seq s : new ArrayList<>(running)) {
      try {
        end(s, FinishReason.ERROR, why);
      } catch (RuntimeException | Error e) { // every client still hears of its end
        log.warn("ending {} failed", s.request.requestId(), e);
      }
    }
    running.clear();
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

  /**
   * One request's life in the scheduler. Fields other than {@code cancelled} belong to the
   * scheduler thread.
   */
  private final class Seq implements Handle {
    final GenerationRequest request;
    final GenerationListener listener;
    final SequenceState state;
    final long arrivalNanos = System.nanoTime();
    volatile boolean cancelled;
    boolean done;
    int slot = -1;
    Phase phase = Phase.WAITING;

    /** Positions of this sequence in its slot's KV. */
    int fed;

    /**
     * Preempted after its first token: its prefill recomputes the KV, and the next token comes from
     * a decode row.
     */
    boolean resumed;

    int cachedTokens;
    long admittedNanos;
    long prefillNanos;
    long firstTokenNanos;
    long lastTokenNanos;
    long stepModelNanos;
    long stepTotalNanos;
    private int[] imageRowOf;
    private PrefixKeys keys;

    Seq(GenerationRequest request, GenerationListener listener) {
      this.request = request;
      this.listener = listener;
      this.state = new SequenceState(request.inputIds(), request.settings());
    }

    /**
     * Positions to hold before decoding: the prompt, or after a preemption everything but the last
     * token.
     */
    int target() {
      return resumed ? state.length() - 1 : state.promptLength();
    }

    /** Prompt position → image row spliced there, or -1. */
    int[] imageRowOf() {
      if (imageRowOf == null) {
        int[] ids = request.inputIds();
        imageRowOf = new int[ids.length];
        boolean images = request.imageEmbeddings().length > 0;
        int r = 0;
        for (int p = 0; p < ids.length; p++)
          imageRowOf[p] = images && ids[p] == request.imageTokenId() ? r++ : -1;
      }
      return imageRowOf;
    }

    PrefixKeys keys() {
      if (keys == null) {
        keys =
            new PrefixKeys(
                blockTokens, imageRowOf(), request.imageEmbeddings(), model.hiddenSize());
      }
      return keys;
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
      double queued =
          ((admittedNanos == 0 ? System.nanoTime() : admittedNanos) - arrivalNanos) / 1e6;
      int waiting = queuedCount();
      int others = 0;
      for (Seq s : running) if (s != this && !s.done) others++;
      KvStats k = kv;
      double usage =
          k == null
              ? (capacityTokens() == 0 ? 0 : (double) kvTokens / capacityTokens())
              : (double) k.usedBlocks() / k.capacityBlocks();
      GenerationResult r =
          new GenerationResult(
              reason,
              request.inputIds().length,
              state.generated(),
              ttft,
              decode,
              queued,
              prefillNanos / 1e6,
              stepModelNanos / 1e6,
              stepTotalNanos / 1e6,
              error,
              cachedTokens,
              usage,
              others,
              waiting);
      try {
        listener.onFinish(r);
      } catch (RuntimeException | Error e) { // one client's listener cannot end the loop for all
        log.debug("listener failed on finish of {}", request.requestId(), e);
      }
    }
  }

  private long capacityTokens() {
    return (long) slotBusy.length * model.maxSeqLen();
  }
}
