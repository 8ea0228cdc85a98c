package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.error.Rejection;
import tandem.decoder.DecoderSettings;

class SchedulerTest {
  private static final int VOCAB = 40;
  private final List<Scheduler> open = new ArrayList<>();

  @AfterEach
  void closeAll() {
    open.forEach(Scheduler::close);
  }

  /** Collects one stream. */
  static final class Collector implements GenerationListener {
    final List<Integer> ids = new CopyOnWriteArrayList<>();
    final CompletableFuture<GenerationResult> done = new CompletableFuture<>();

    @Override
    public void onToken(int id) {
      ids.add(id);
    }

    @Override
    public void onFinish(GenerationResult r) {
      done.complete(r);
    }

    GenerationResult await() throws Exception {
      return done.get(20, TimeUnit.SECONDS);
    }

    int[] array() {
      return ids.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  private Scheduler scheduler(FakeCausalLm lm, int maxQueue) {
    Scheduler s =
        new Scheduler(lm, new Scheduler.Config(maxQueue, 1000, 64, DecoderSettings.LIMIT_NAMES));
    open.add(s);
    return s;
  }

  static GenerationRequest request(int[] ids, int max) {
    return new GenerationRequest(
        "r",
        ids,
        new float[0],
        39,
        new GenerationSettings(max, 3, 2, 1f, false, 1f, 0, 1f, 0, new int[] {7}));
  }

  @Test
  void aPromptDecodedAloneAndAlongsideThreeOthersGivesTheSameIds() throws Exception {
    int[] prompt = {1, 2, 3, 4, 5};
    Collector alone = new Collector();
    scheduler(FakeCausalLm.random(VOCAB, 4, 256), 8).submit(request(prompt, 40), alone);
    GenerationResult r1 = alone.await();

    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 4, 256);
    lm.stepSleepMillis = 1;
    Scheduler s = scheduler(lm, 8);
    List<Collector> others = new ArrayList<>();
    for (int k = 0; k < 3; k++) {
      Collector c = new Collector();
      s.submit(request(new int[] {9 + k, 8, 7 - k}, 60), c);
      others.add(c);
    }
    Thread.sleep(5); // the others are mid-stream when ours arrives
    Collector batched = new Collector();
    s.submit(request(prompt, 40), batched);
    GenerationResult r2 = batched.await();
    for (Collector c : others) c.await();

    assertTrue(alone.ids.size() > 3, "too short to mean anything: " + alone.ids);
    assertArrayEquals(alone.array(), batched.array());
    assertEquals(r1.reason(), r2.reason());
    assertTrue(
        lm.largestBatch > 1,
        "the streams were never batched together: largest batch " + lm.largestBatch);
  }

  @Test
  void requestsAdmittedTogetherArePrefilledInOneCallAndABadOneFailsAlone() throws Exception {
    int[][] prompts = {{11, 2, 3}, {12, 4}, {13, 5, 6, 1}};
    int[][] alone = new int[prompts.length][];
    FinishReason[] aloneReason = new FinishReason[prompts.length];
    for (int k = 0; k < prompts.length; k++) {
      Collector c = new Collector();
      scheduler(FakeCausalLm.random(VOCAB, 4, 256), 8).submit(request(prompts[k], 12), c);
      aloneReason[k] = c.await().reason();
      alone[k] = c.array();
    }

    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 5, 256); // the blocker's slot + four
    lm.poisonFirstId = 30;
    lm.stepSleepMillis = 300; // the blocker's step: the next requests queue up meanwhile
    Scheduler s = scheduler(lm, 8);
    Collector blocker = new Collector();
    s.submit(request(new int[] {20, 1}, 3), blocker);
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (blocker.ids.isEmpty() && System.nanoTime() < deadline)
      Thread.sleep(1); // now in its 300 ms step
    List<Collector> cs = new ArrayList<>();
    for (int[] p : prompts) {
      Collector c = new Collector();
      s.submit(request(p, 12), c);
      cs.add(c);
    }
    Collector poisoned = new Collector();
    s.submit(request(new int[] {30, 1}, 12), poisoned);
    lm.stepSleepMillis = 0;
    for (int k = 0; k < prompts.length; k++) {
      assertEquals(aloneReason[k], cs.get(k).await().reason(), "prompt " + k);
      assertArrayEquals(alone[k], cs.get(k).array(), "prompt " + k);
    }
    assertEquals(FinishReason.ERROR, poisoned.await().reason());
    blocker.await();
    assertEquals(
        4, lm.largestStackedPrefill, "the four queued prompts were not prefilled in one call");
  }

  /** Runs the rows' bodies on other threads at once, last row first, and counts the calls. */
  static final class ThreadedRowsLm extends FakeCausalLm {
    final java.util.concurrent.ExecutorService threads =
        java.util.concurrent.Executors.newFixedThreadPool(4);
    final java.util.concurrent.atomic.AtomicInteger widest =
        new java.util.concurrent.atomic.AtomicInteger();

    ThreadedRowsLm(int slots, float[] constantLogits) {
      super(VOCAB, 4, slots, 256, constantLogits);
    }

    @Override
    public void forEachRow(int n, java.util.function.IntConsumer body) {
      widest.accumulateAndGet(n, Math::max);
      List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
      for (int i = n - 1; i >= 0; i--) {
        int row = i;
        fs.add(threads.submit(() -> body.accept(row)));
      }
      for (var f : fs) {
        try {
          f.get();
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }
    }
  }

  private static GenerationRequest sampled(int[] ids, int max, long seed) {
    return new GenerationRequest(
        "r",
        ids,
        new float[0],
        39,
        new GenerationSettings(max, 0, 0, 1f, true, 0.9f, 0, 1f, seed, new int[0]));
  }

  @Test
  void rowsChooseTheirTokensAtOnceOnTheModelsThreadsAndDrawWhatTheyDrewOneAfterAnother()
      throws Exception {
    int[][] prompts = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9}, {10}};
    int[][] serial = new int[prompts.length][];
    FakeCausalLm plain = FakeCausalLm.random(VOCAB, 4, 256);
    plain.stepSleepMillis = 1;
    Scheduler one = scheduler(plain, 8);
    List<Collector> cs = new ArrayList<>();
    for (int k = 0; k < prompts.length; k++) {
      Collector c = new Collector();
      one.submit(k % 2 == 0 ? sampled(prompts[k], 30, 100 + k) : request(prompts[k], 30), c);
      cs.add(c);
    }
    for (int k = 0; k < prompts.length; k++) {
      cs.get(k).await();
      serial[k] = cs.get(k).array();
    }

    ThreadedRowsLm lm = new ThreadedRowsLm(4, null);
    lm.stepSleepMillis = 1;
    Scheduler many = scheduler(lm, 8);
    cs.clear();
    for (int k = 0; k < prompts.length; k++) {
      Collector c = new Collector();
      many.submit(k % 2 == 0 ? sampled(prompts[k], 30, 100 + k) : request(prompts[k], 30), c);
      cs.add(c);
    }
    for (int k = 0; k < prompts.length; k++) {
      cs.get(k).await();
      assertTrue(serial[k].length > 3, "too short to mean anything: prompt " + k);
      assertArrayEquals(serial[k], cs.get(k).array(), "prompt " + k);
    }
    assertTrue(lm.widest.get() > 1, "rows never chose together: widest " + lm.widest.get());
    lm.threads.shutdownNow();
  }

  @Test
  void aRowWhoseTokenCannotBeChosenEndsWithErrorAndTheRowsBesideItGoOn() throws Exception {
    // every logit -inf but id 7's, and 7 is a stop id banned until 3 tokens: a sampled row has no
    // token left to draw (choose throws), a greedy row takes the argmax of an all -inf row
    float[] row = new float[VOCAB];
    java.util.Arrays.fill(row, Float.NEGATIVE_INFINITY);
    row[7] = 1f;
    ThreadedRowsLm lm = new ThreadedRowsLm(2, row);
    lm.stepSleepMillis = 5;
    Scheduler s = scheduler(lm, 8);
    Collector doomed = new Collector();
    Collector fine = new Collector();
    s.submit(
        new GenerationRequest(
            "doomed",
            new int[] {1, 2},
            new float[0],
            39,
            new GenerationSettings(5, 3, 0, 1f, true, 1f, 0, 1f, 1, new int[] {7})),
        doomed);
    s.submit(request(new int[] {3, 4}, 5), fine);
    GenerationResult bad = doomed.await();
    assertEquals(FinishReason.ERROR, bad.reason());
    assertTrue(bad.error().contains("token selection failed"), bad.error());
    assertTrue(bad.error().contains("every token is banned"), bad.error());
    // the greedy row: three tokens while 7 is banned, then 7, which stops it
    assertEquals(FinishReason.STOP, fine.await().reason());
    assertEquals(List.of(0, 0, 0, 7), fine.ids);
    lm.threads.shutdownNow();
  }

  @Test
  void moreStreamsThanSlotsAllFinishBySlotReuse() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 64);
    lm.stepSleepMillis = 1; // so the submissions below overlap
    Scheduler s = scheduler(lm, 16);
    List<Collector> cs = new ArrayList<>();
    for (int k = 0; k < 7; k++) {
      Collector c = new Collector();
      s.submit(request(new int[] {k + 1, k + 2}, 10), c);
      cs.add(c);
    }
    for (Collector c : cs) {
      GenerationResult r = c.await();
      assertTrue(
          r.reason() == FinishReason.STOP || r.reason() == FinishReason.LENGTH, r.toString());
      assertEquals(c.ids.size(), r.generatedTokens());
    }
    assertEquals(2, lm.largestBatch);
    assertEquals(0, s.metrics().activeSequences());
    assertEquals(7, s.metrics().requestsFinished());
  }

  @Test
  void cancellingFreesTheSlotAndTheActiveCountReturnsToZero() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 100_000);
    lm.stepSleepMillis = 2;
    Scheduler s = scheduler(lm, 4);
    Collector a = new Collector();
    Collector b = new Collector();
    Collector queued = new Collector();
    GenerationRequest endless = endless(50_000);
    Scheduler.Handle ha = s.submit(endless, a);
    Scheduler.Handle hb = s.submit(endless, b);
    Scheduler.Handle hq = s.submit(endless, queued);
    while (a.ids.size() < 3 || b.ids.size() < 3) Thread.sleep(1);
    assertEquals(2, s.metrics().activeSequences());
    assertEquals(1, s.metrics().queuedRequests());
    // each: its prompt and all but its newest token (not fed yet), 1 + 3 - 1 at least
    assertTrue(s.metrics().kvTokensInUse() >= 6, "" + s.metrics().kvTokensInUse());
    hq.cancel();
    ha.cancel();
    assertEquals(FinishReason.CANCELLED, queued.await().reason());
    assertEquals(0, queued.ids.size());
    assertEquals(FinishReason.CANCELLED, a.await().reason());
    int atCancel = a.ids.size();
    hb.cancel();
    assertEquals(FinishReason.CANCELLED, b.await().reason());
    Thread.sleep(20);
    assertEquals(atCancel, a.ids.size(), "tokens arrived after the cancel was reported");
    SchedulerMetrics m = s.metrics();
    assertEquals(0, m.activeSequences());
    assertEquals(0, m.queuedRequests());
    assertEquals(0, m.kvTokensInUse());
    assertEquals(0, lm.length(0) + lm.length(1), "the model's slots were not released");
  }

  /** A one-token prompt that generates up to {@code tokens} ids (no stop ids). */
  private static GenerationRequest endless(int tokens) {
    return new GenerationRequest(
        "e",
        new int[] {1},
        new float[0],
        39,
        new GenerationSettings(tokens, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0]));
  }

  @Test
  void aFullQueueAndAnOverlongPromptAreRejectedUpFront() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 1, 32);
    lm.stepSleepMillis = 2;
    Scheduler s = new Scheduler(lm, new Scheduler.Config(1, 20, 64, DecoderSettings.LIMIT_NAMES));
    open.add(s);
    GenerationRequest endless = endless(10_000);
    Collector running = new Collector();
    Scheduler.Handle h = s.submit(endless, running);
    s.submit(endless, new Collector());
    Rejection full = assertThrows(Rejection.class, () -> s.submit(endless, new Collector()));
    assertEquals(Rejection.Kind.OVERLOADED, full.kind());
    assertTrue(full.getMessage().contains("TANDEM_DECODER_MAX_QUEUE"), full.getMessage());

    Rejection longer =
        assertThrows(Rejection.class, () -> s.submit(request(new int[25], 5), new Collector()));
    assertEquals(Rejection.Kind.INVALID, longer.kind());
    assertTrue(
        longer.getMessage().contains("25 tokens") && longer.getMessage().contains("20"),
        longer.getMessage());
    h.cancel();
  }

  /**
   * A cancelled request leaves the queue when the loop comes round; until then (a long step) it
   * must not count against max-queue, or new requests get OVERLOADED with room in the queue.
   */
  @Test
  void aCancelledQueuedRequestFreesItsQueuePlaceAtOnce() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 1, 32);
    lm.stepSleepMillis = 1500;
    Scheduler s = new Scheduler(lm, new Scheduler.Config(1, 20, 64, DecoderSettings.LIMIT_NAMES));
    open.add(s);
    GenerationRequest endless = endless(10_000);
    Scheduler.Handle running = s.submit(endless, new Collector());
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (lm.decodeCalls.get() == 0 && System.nanoTime() < until) Thread.sleep(1);
    assertTrue(lm.decodeCalls.get() > 0, "the first request decodes");
    assertEquals(
        1, s.metrics().kvTokensInUse(), "its one-token prompt; its first new token is fed now");
    // the loop sleeps in that step now: the queue's one place is taken, then given back
    Scheduler.Handle queued = s.submit(endless, new Collector());
    assertThrows(Rejection.class, () -> s.submit(endless, new Collector()), "the queue is full");
    queued.cancel();
    assertEquals(0, s.metrics().queuedRequests());
    Scheduler.Handle next = s.submit(endless, new Collector());
    next.cancel();
    running.cancel();
  }

  @Test
  void aPromptThatCannotFitAKvSlotIsExhaustedNotInvalid() {
    Scheduler s =
        new Scheduler(
            FakeCausalLm.random(VOCAB, 1, 8),
            new Scheduler.Config(1, 1000, 64, DecoderSettings.LIMIT_NAMES));
    open.add(s);
    Rejection e =
        assertThrows(Rejection.class, () -> s.submit(request(new int[9], 5), new Collector()));
    assertEquals(Rejection.Kind.TOO_LARGE, e.kind());
    assertTrue(e.getMessage().contains("TANDEM_DECODER_MAX_SEQ_LEN"), e.getMessage());
  }

  @Test
  void aSequenceThatFillsItsSlotEndsWithLength() throws Exception {
    Scheduler s = scheduler(FakeCausalLm.random(VOCAB, 1, 10), 1);
    Collector c = new Collector();
    s.submit(
        new GenerationRequest(
            "r",
            new int[] {1, 2, 3},
            new float[0],
            39,
            new GenerationSettings(100, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0])),
        c);
    GenerationResult r = c.await();
    assertEquals(FinishReason.LENGTH, r.reason());
    assertEquals(7, r.generatedTokens());
  }

  @Test
  void spliceCountMismatchAndBadIdsAreInvalidWithBothNumbers() {
    Scheduler s = scheduler(FakeCausalLm.random(VOCAB, 1, 64), 1);
    GenerationSettings g = new GenerationSettings(4, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0]);
    Rejection e =
        assertThrows(
            Rejection.class,
            () ->
                s.submit(
                    new GenerationRequest(
                        "r", new int[] {1, 39, 39, 39, 2}, new float[2 * 4], 39, g),
                    new Collector()));
    assertEquals(Rejection.Kind.INVALID, e.kind());
    assertTrue(
        e.getMessage().contains("3 image-token positions") && e.getMessage().contains("2 rows"),
        e.getMessage());
    e =
        assertThrows(
            Rejection.class,
            () ->
                s.submit(
                    new GenerationRequest("r", new int[] {1, VOCAB}, new float[0], 39, g),
                    new Collector()));
    assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
    e =
        assertThrows(
            Rejection.class,
            () ->
                s.submit(
                    new GenerationRequest("r", new int[0], new float[0], 39, g), new Collector()));
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
  }

  @Test
  void splicedRowsReachTheModelAndChangeTheOutput() throws Exception {
    GenerationSettings g = new GenerationSettings(8, 0, 0, 1f, false, 1f, 0, 1f, 0, new int[0]);
    int[] ids = {1, 39, 39, 2};
    int[][] outs = new int[2][];
    for (int k = 0; k < 2; k++) {
      float[] rows = new float[2 * 4];
      rows[0] = 100 + k; // only the first feature reaches the fake model's state
      Collector c = new Collector();
      scheduler(FakeCausalLm.random(VOCAB, 1, 64), 1)
          .submit(new GenerationRequest("r", ids, rows, 39, g), c);
      c.await();
      outs[k] = c.array();
    }
    assertTrue(!java.util.Arrays.equals(outs[0], outs[1]), "the spliced rows did not matter");
  }

  @Test
  void warmUpRunsOneRequestPerSlotUpToFourAndLeavesNothingActive() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 64);
    Scheduler s = scheduler(lm, 1);
    s.warmUp(1);
    assertEquals(2, lm.prefillCalls.get());
    assertTrue(lm.decodeCalls.get() >= 1, "no decode step ran");
    assertEquals(0, s.metrics().activeSequences());
    assertEquals(0, s.metrics().kvTokensInUse());
  }
}
