package tandem.vision.cache;

import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Bounded, least-recently-used embedding cache with in-flight deduplication: while one caller
 * computes the embedding of a key, every other caller asking for the same key waits on the same
 * future, so identical images arriving together are encoded once. Failed computations are not
 * cached (the next caller tries again).
 */
public final class EmbeddingCache {
  /** The outcome of a lookup: the future embedding and whether it was already cached. */
  public record Lookup(CompletableFuture<CachedEmbedding> embedding, Source source) {}

  /** HIT: cached; JOINED: another caller is computing it; MISS: this caller's supplier runs. */
  public enum Source {
    HIT,
    JOINED,
    MISS
  }

  /** Counters, read together. */
  public record Stats(
      long hits,
      long misses,
      long joined,
      long evictions,
      long entries,
      long bytes,
      long maxBytes) {}

  private final long maxBytes;
  private final LinkedHashMap<CacheKey, CachedEmbedding> lru = new LinkedHashMap<>(16, 0.75f, true);
  private final HashMap<CacheKey, CompletableFuture<CachedEmbedding>> inFlight = new HashMap<>();
  private long bytes;
  private long hits;
  private long misses;
  private long joined;
  private long evictions;

  /** {@code maxBytes} 0 disables storing (in-flight deduplication still works). */
  public EmbeddingCache(long maxBytes) {
    if (maxBytes < 0)
      throw new IllegalArgumentException("cache bound must be >= 0 bytes, got " + maxBytes);
    this.maxBytes = maxBytes;
  }

  /**
   * Returns the cached embedding, joins a computation in flight, or starts {@code compute} (called
   * at most once per key at a time, on this thread) and stores its result when it completes.
   */
  public Lookup getOrCompute(CacheKey key, Supplier<CompletableFuture<CachedEmbedding>> compute) {
    CompletableFuture<CachedEmbedding> mine = new CompletableFuture<>();
    synchronized (this) {
      CachedEmbedding e = lru.get(key);
      if (e != null) {
        hits++;
        return new Lookup(CompletableFuture.completedFuture(e), Source.HIT);
      }
      CompletableFuture<CachedEmbedding> running = inFlight.get(key);
      if (running != null) {
        joined++;
        return new Lookup(running, Source.JOINED);
      }
      misses++;
      inFlight.put(key, mine);
    }
    CompletableFuture<CachedEmbedding> work;
    try {
      work = compute.get();
    } catch (RuntimeException | Error ex) {
      // an OutOfMemoryError too: the in-flight entry must complete, or every later caller of this
      // key waits forever
      work = CompletableFuture.failedFuture(ex);
    }
    work.whenComplete(
        (value, error) -> {
          synchronized (this) {
            if (error == null) put(key, value);
            inFlight.remove(key);
          }
          if (error == null) mine.complete(value);
          else mine.completeExceptionally(error);
        });
    return new Lookup(mine, Source.MISS);
  }

  /** The cached entry without counting a hit or miss (null when absent). */
  public synchronized CachedEmbedding peek(CacheKey key) {
    return lru.get(key);
  }

  private void put(CacheKey key, CachedEmbedding value) {
    if (value.costBytes() > maxBytes) return; // would evict everything and still not fit
    CachedEmbedding old = lru.put(key, value);
    if (old != null) bytes -= old.costBytes();
    bytes += value.costBytes();
    Iterator<Map.Entry<CacheKey, CachedEmbedding>> it = lru.entrySet().iterator();
    while (bytes > maxBytes && it.hasNext()) {
      Map.Entry<CacheKey, CachedEmbedding> eldest = it.next();
      if (eldest.getKey().equals(key)) continue;
      bytes -= eldest.getValue().costBytes();
      it.remove();
      evictions++;
    }
  }

  public synchronized int inFlight() {
    return inFlight.size();
  }

  public synchronized Stats stats() {
    return new Stats(hits, misses, joined, evictions, lru.size(), bytes, maxBytes);
  }
}
