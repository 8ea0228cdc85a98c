package tandem.vision.preprocess;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/** Splits row loops over the common fork-join pool when the work is big enough to pay for it. */
final class Parallel {
  private Parallel() {}

  interface RowRange {
    void run(int from, int to);
  }

  /** Rows per task: below this a single thread is faster than the hand-off. */
  private static final int MIN_ROWS = 64;

  static void rows(int n, RowRange body) {
    // a parallel stream runs on the common pool plus the calling thread, so all cores take part
    int threads =
        Math.min(
            Runtime.getRuntime().availableProcessors(),
            ForkJoinPool.getCommonPoolParallelism() + 1);
    int chunks = Math.min(Math.max(1, threads), Math.max(1, n / MIN_ROWS));
    if (chunks <= 1) {
      body.run(0, n);
      return;
    }
    IntStream.range(0, chunks)
        .parallel()
        .forEach(c -> body.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)));
  }
}
