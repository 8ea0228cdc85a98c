package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.decoder.DecoderSettings;
import tandem.decoder.generate.SchedulerTest.Collector;

/**
 * An idle scheduler's first step waits while requests keep arriving ({@code batchWaitMillis}
 * between arrivals), so requests sent one after another are prefilled in one call; it stops waiting
 * once the free slots are taken.
 */
class BatchWaitTest {
  private static final int VOCAB = 50;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  private Scheduler scheduler(FakeCausalLm lm, int waitMillis) {
    Scheduler s =
        new Scheduler(
            lm, new Scheduler.Config(8, 1000, 64, DecoderSettings.LIMIT_NAMES, 0, waitMillis));
    open.add(s);
    return s;
  }

  /** Three requests 100 ms apart; returns the most prompts one prefill call held. */
  private static int sendThreeApart(Scheduler s, FakeCausalLm lm) throws Exception {
    List<Collector> cs = new ArrayList<>();
    for (int k = 0; k < 3; k++) {
      if (k > 0) Thread.sleep(100);
      Collector c = new Collector();
      s.submit(SchedulerTest.request(new int[] {10 + k, 2, 3}, 4), c);
      cs.add(c);
    }
    for (Collector c : cs) c.await();
    return lm.largestStackedPrefill;
  }

  @Test
  void requestsArrivingWithinTheWaitOfEachOtherArePrefilledTogether() throws Exception {
    FakeCausalLm waits = FakeCausalLm.random(VOCAB, 4, 256);
    assertEquals(3, sendThreeApart(scheduler(waits, 1000), waits), "gaps of 100 ms < 1 s");
    FakeCausalLm atOnce = FakeCausalLm.random(VOCAB, 4, 256);
    assertTrue(sendThreeApart(scheduler(atOnce, 0), atOnce) < 3, "no wait: the first goes alone");
    FakeCausalLm shortWait = FakeCausalLm.random(VOCAB, 4, 256);
    assertTrue(
        sendThreeApart(scheduler(shortWait, 5), shortWait) < 3,
        "gaps of 100 ms > 5 ms: the first step does not wait for the later ones");
  }

  @Test
  void theWaitEndsOnceTheFreeSlotsAreTaken() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 256);
    Scheduler s = scheduler(lm, 60_000); // a wait that would outlast the test
    Collector a = new Collector();
    Collector b = new Collector();
    s.submit(SchedulerTest.request(new int[] {11, 2, 3}, 4), a);
    s.submit(SchedulerTest.request(new int[] {12, 2, 3}, 4), b);
    long t0 = System.nanoTime();
    a.await();
    b.await();
    assertTrue(
        System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(15),
        "both slots were taken: the first step should not have waited");
    assertEquals(2, lm.largestStackedPrefill);
  }

  @Test
  void aNegativeWaitIsRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new Scheduler.Config(8, 1000, 64, DecoderSettings.LIMIT_NAMES, 0, -1));
  }
}
