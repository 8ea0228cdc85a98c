package tandem.vision.batch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.vision.model.TileEncoder;

/**
 * Merges tiles from many images and requests into forward passes of up to {@code maxTiles}. One
 * worker thread owns the model. It takes the oldest waiting tiles, then waits up to {@code
 * waitMillis} for more until the batch is full; an image with more tiles than fit is split across
 * consecutive batches (its future completes when its last tile is done). A submission may ask for a
 * smaller cap (benchmarks measure per-batch-size speed that way); the batch it lands in then uses
 * the smallest cap among its parts.
 */
public final class TileBatcher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TileBatcher.class);

  /** Counters since start. */
  public record Stats(long batches, long tiles, long maxBatchTiles) {}

  private final TileEncoder encoder;
  private final int maxTiles;
  private final long waitNanos;
  private final LinkedBlockingDeque<Part> queue = new LinkedBlockingDeque<>();
  private final Thread worker;
  private final AtomicLong batches = new AtomicLong();
  private final AtomicLong tiles = new AtomicLong();
  private final AtomicLong largest = new AtomicLong();
  private volatile boolean closed;

  /** One image's tiles waiting for (part of) a forward pass. */
  private static final class Job {
    final float[] pixels;
    final int tiles;
    final float[] out;
    final CompletableFuture<float[]> done = new CompletableFuture<>();
    int remaining;

    Job(float[] pixels, int tiles, int outFloatsPerTile) {
      this.pixels = pixels;
      this.tiles = tiles;
      this.out = new float[tiles * outFloatsPerTile];
      this.remaining = tiles;
    }
  }

  /** Tiles [start, start+count) of a job; cap = the most tiles the batch holding it may have. */
  private record Part(Job job, int start, int count, int cap) {}

  public TileBatcher(TileEncoder encoder, int maxTiles, int waitMillis) {
    if (maxTiles < 1)
      throw new IllegalArgumentException("max batch tiles must be >= 1, got " + maxTiles);
    if (waitMillis < 0)
      throw new IllegalArgumentException("batch wait must be >= 0 ms, got " + waitMillis);
    this.encoder = encoder;
    this.maxTiles = maxTiles;
    this.waitNanos = TimeUnit.MILLISECONDS.toNanos(waitMillis);
    this.worker = new Thread(this::run, "vision-tile-batcher");
    this.worker.setDaemon(true);
    this.worker.start();
  }

  public int maxTiles() {
    return maxTiles;
  }

  /** Queues one image's tiles [tiles, 3, S, S]; the future yields [tiles, tokens, hidden]. */
  public CompletableFuture<float[]> submit(float[] pixels, int tiles) {
    return submit(pixels, tiles, maxTiles);
  }

  /**
   * As {@link #submit(float[], int)}, with these tiles run in batches of at most {@code cap} (≤ the
   * server's cap).
   */
  public CompletableFuture<float[]> submit(float[] pixels, int tiles, int cap) {
    if (tiles < 1) throw new IllegalArgumentException("tiles must be >= 1");
    if (pixels.length != (long) tiles * encoder.tileFloats())
      throw new IllegalArgumentException(
          "pixels hold "
              + pixels.length
              + " floats, "
              + tiles
              + " tiles need "
              + (long) tiles * encoder.tileFloats());
    Job job = new Job(pixels, tiles, encoder.outputFloatsPerTile());
    if (closed) {
      job.done.completeExceptionally(
          new RejectedExecutionException("the tile batcher is shut down"));
      return job.done;
    }
    queue.addLast(new Part(job, 0, tiles, Math.max(1, Math.min(cap, maxTiles))));
    return job.done;
  }

  public Stats stats() {
    return new Stats(batches.get(), tiles.get(), largest.get());
  }

  private void run() {
    while (!closed) {
      List<Part> batch;
      try {
        batch = gather();
      } catch (InterruptedException e) {
        break;
      }
      if (batch.isEmpty()) continue;
      runBatch(batch);
    }
    Part p;
    while ((p = queue.pollFirst()) != null)
      p.job()
          .done
          .completeExceptionally(new RejectedExecutionException("the tile batcher is shut down"));
  }

  /** Tiles waiting in the queue (not yet in a forward pass), for metrics and tests. */
  public int queuedTiles() {
    int n = 0;
    for (Part p : queue) if (!p.job().done.isDone()) n += p.count();
    return n;
  }

  /**
   * Oldest part first, then whatever arrives within the wait window, up to the cap; oversize parts
   * are split. Parts whose future is already done (the caller cancelled it) are dropped: they never
   * reach a forward pass.
   */
  private List<Part> gather() throws InterruptedException {
    List<Part> batch = new ArrayList<>();
    Part first = queue.pollFirst(100, TimeUnit.MILLISECONDS);
    while (first != null && first.job().done.isDone()) first = queue.pollFirst();
    if (first == null) return batch;
    int cap = first.cap();
    int count = take(batch, first, cap, 0);
    long deadline = System.nanoTime() + waitNanos;
    while (count < cap) {
      long left = deadline - System.nanoTime();
      Part next = left > 0 ? queue.pollFirst(left, TimeUnit.NANOSECONDS) : queue.pollFirst();
      if (next == null) break;
      if (next.job().done.isDone()) continue; // cancelled while queued
      if (next.cap() < count + 1) { // it wants smaller batches than this one already is
        queue.addFirst(next);
        break;
      }
      cap = Math.min(cap, next.cap());
      count = take(batch, next, cap, count);
    }
    return batch;
  }

  /**
   * Adds as much of {@code p} as fits below {@code cap}; the rest goes back to the head of the
   * queue.
   */
  private int take(List<Part> batch, Part p, int cap, int count) {
    int fit = Math.min(p.count(), cap - count);
    batch.add(new Part(p.job(), p.start(), fit, p.cap()));
    if (fit < p.count())
      queue.addFirst(new Part(p.job(), p.start() + fit, p.count() - fit, p.cap()));
    return count + fit;
  }

  private void runBatch(List<Part> batch) {
    int tf = encoder.tileFloats();
    int of = encoder.outputFloatsPerTile();
    int n = batch.stream().mapToInt(Part::count).sum();
    try {
      float[] pixels;
      if (batch.size() == 1 && batch.get(0).count() == batch.get(0).job().tiles) {
        pixels = batch.get(0).job().pixels; // whole image alone: no copy
      } else {
        pixels = new float[n * tf];
        int at = 0;
        for (Part p : batch) {
          System.arraycopy(p.job().pixels, p.start() * tf, pixels, at * tf, p.count() * tf);
          at += p.count();
        }
      }
      float[] out = encoder.encode(pixels, n);
      batches.incrementAndGet();
      tiles.addAndGet(n);
      largest.accumulateAndGet(n, Math::max);
      int at = 0;
      for (Part p : batch) {
        System.arraycopy(out, at * of, p.job().out, p.start() * of, p.count() * of);
        at += p.count();
        p.job().remaining -= p.count();
        if (p.job().remaining == 0)
          p.job().done.complete(p.job().out); // no-op when cancelled meanwhile
      }
    } catch (RuntimeException | Error e) {
      LOG.warn("vision batch of {} tiles failed", n, e);
      for (Part p : batch) p.job().done.completeExceptionally(e);
    }
  }

  /** True once the worker has ended: no forward pass runs any more, so the tower may be freed. */
  public boolean stopped() {
    return !worker.isAlive();
  }

  /**
   * Stops taking work; waiting submissions fail with RejectedExecutionException. Waits up to a
   * minute for the forward pass in flight (see {@link #stopped()}).
   */
  @Override
  public void close() {
    closed = true;
    worker.interrupt();
    try {
      worker.join(60_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
