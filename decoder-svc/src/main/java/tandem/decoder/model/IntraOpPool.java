package tandem.decoder.model;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The CPU decode kernel's intra-op thread pool (process-wide, like libtorch's): {@link
 * #parallelFor} runs tasks 0..n-1 on the calling thread plus {@code threads - 1} workers that claim
 * tasks from a shared counter. A decode step issues ~150 parallel regions, so hand-off latency
 * matters: idle workers spin briefly before parking, and the caller does work instead of waiting.
 */
final class IntraOpPool {
  /**
   * How long an idle thread spins before it parks. Between a prefill's parallel regions the caller
   * works alone for up to a few hundred microseconds (it interleaves 128 input rows for the next
   * matrix); a worker that had parked then took a wake-up to rejoin. Spinning 1 ms instead of 50 µs
   * made 128-token prefills 0.965× and 0.954× the time (full-size checkpoint, one JVM alternating
   * the builds, both orders, 60–80 pairs); 1- and 8-row decode steps were unchanged. OpenMP's
   * default wait policy and llama.cpp's threads also spin before they sleep; an idle server's
   * workers park after this once.
   */
  private static final long SPIN_NANOS = 1_000_000;

  private static final IntraOpPool SHARED =
      new IntraOpPool(Runtime.getRuntime().availableProcessors());

  private Worker[] workers = new Worker[0];
  private int threads;

  /** The current parallel region; a worker holding a stale one finds its task counter exhausted. */
  private volatile Job job;

  private static final class Job {
    final IntConsumer body;
    final int tasks;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger done = new AtomicInteger();
    volatile Throwable failure;

    Job(IntConsumer body, int tasks) {
      this.body = body;
      this.tasks = tasks;
    }

    void run() {
      for (int i = next.getAndIncrement(); i < tasks; i = next.getAndIncrement()) {
        try {
          body.accept(i);
        } catch (Throwable t) {
          if (failure == null) failure = t;
        } finally {
          done.incrementAndGet();
        }
      }
    }
  }

  IntraOpPool(int threads) {
    setThreads(threads);
  }

  static IntraOpPool shared() {
    return SHARED;
  }

  synchronized int threads() {
    return threads;
  }

  /** Resizes the pool (the calling thread counts as one). */
  synchronized void setThreads(int n) {
    if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
    if (n == threads) return;
    for (Worker w : workers) w.finish();
    workers = new Worker[n - 1];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Worker(i);
      workers[i].start();
    }
    threads = n;
  }

  /**
   * Runs {@code body.accept(i)} for every i in [0, n) and returns when all are done; rethrows the
   * first failure.
   */
  synchronized void parallelFor(int n, IntConsumer body) {
    if (n <= 0) return;
    if (threads == 1 || n == 1) {
      for (int i = 0; i < n; i++) body.accept(i);
      return;
    }
    Job j = new Job(body, n);
    job = j;
    for (Worker w : workers) w.wake();
    j.run();
    long spinUntil = System.nanoTime() + SPIN_NANOS;
    while (j.done.get() < n) {
      if (System.nanoTime() < spinUntil) Thread.onSpinWait();
      else Thread.yield();
    }
    Throwable t = j.failure;
    if (t instanceof RuntimeException) throw (RuntimeException) t;
    if (t instanceof Error) throw (Error) t;
  }

  private final class Worker extends Thread {
    private volatile boolean running = true;
    private Job seen;

    Worker(int index) {
      super("tandem-intra-op-" + index);
      setDaemon(true);
    }

    void wake() {
      LockSupport.unpark(this);
    }

    void finish() {
      running = false;
      LockSupport.unpark(this);
    }

    @Override
    public void run() {
      seen = job;
      while (running) {
        Job j = job;
        if (j == seen) {
          idle();
          continue;
        }
        seen = j;
        j.run();
      }
    }

    /** Spins for a short while (the next region usually starts within microseconds), then parks. */
    private void idle() {
      long spinUntil = System.nanoTime() + SPIN_NANOS;
      while (job == seen && running) {
        if (System.nanoTime() < spinUntil) Thread.onSpinWait();
        else LockSupport.park(this);
      }
    }
  }
}
