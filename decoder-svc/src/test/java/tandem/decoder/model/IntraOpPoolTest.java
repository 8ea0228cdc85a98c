package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class IntraOpPoolTest {
  @Test
  void everyTaskRunsExactlyOnceAcrossManyRegionsAndResizes() {
    IntraOpPool pool = new IntraOpPool(3);
    try {
      for (int threads : new int[] {3, 1, 2, 4}) {
        pool.setThreads(threads);
        for (int region = 0; region < 500; region++) {
          int n = 1 + region % 17;
          AtomicIntegerArray runs = new AtomicIntegerArray(n);
          pool.parallelFor(n, runs::incrementAndGet);
          for (int i = 0; i < n; i++)
            assertEquals(1, runs.get(i), "threads " + threads + " task " + i);
        }
      }
    } finally {
      pool.setThreads(1);
    }
  }

  @Test
  void aFailingTaskIsRethrownAfterTheOthersFinish() {
    IntraOpPool pool = new IntraOpPool(2);
    try {
      IllegalStateException boom = new IllegalStateException("boom");
      AtomicIntegerArray runs = new AtomicIntegerArray(8);
      IllegalStateException got =
          assertThrows(
              IllegalStateException.class,
              () ->
                  pool.parallelFor(
                      8,
                      i -> {
                        runs.incrementAndGet(i);
                        if (i == 5) throw boom;
                      }));
      assertSame(boom, got);
      for (int i = 0; i < 8; i++) assertEquals(1, runs.get(i));
      // the pool keeps working afterwards
      AtomicIntegerArray again = new AtomicIntegerArray(4);
      pool.parallelFor(4, again::incrementAndGet);
      for (int i = 0; i < 4; i++) assertEquals(1, again.get(i));
    } finally {
      pool.setThreads(1);
    }
  }

  @Test
  void zeroThreadsIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new IntraOpPool(0));
  }
}
