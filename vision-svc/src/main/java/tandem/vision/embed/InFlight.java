package tandem.vision.embed;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.embed.Embedder.ImageInput;

/**
 * Cache and in-flight entries of one call: every image looked up, each miss registered as an entry
 * this call must complete (other calls asking for the same image wait on it), and the batcher
 * futures of the tiles it queued.
 */
final class InFlight {
  /**
   * A miss this call computes: {@code result} completes once its tiles are encoded, or with why
   * they never were.
   */
  record Miss(int index, byte[] data, String imageId, CompletableFuture<CachedEmbedding> result) {}

  private final List<Miss> misses = new ArrayList<>();
  private final List<CompletableFuture<float[]>> queued = new ArrayList<>();

  /** Looks every image up, in request order. */
  List<EmbeddingCache.Lookup> lookUp(
      EmbeddingCache cache, List<ImageInput> images, CacheKey[] keys) {
    List<EmbeddingCache.Lookup> lookups = new ArrayList<>();
    for (int i = 0; i < images.size(); i++) {
      int index = i;
      ImageInput in = images.get(i);
      lookups.add(
          cache.getOrCompute(
              keys[i],
              () -> {
                CompletableFuture<CachedEmbedding> f = new CompletableFuture<>();
                misses.add(new Miss(index, in.data(), in.imageId(), f));
                return f;
              }));
    }
    return lookups;
  }

  List<Miss> misses() {
    return misses;
  }

  /**
   * Remembers the batcher's future of a miss's tiles, so that {@link #cancelQueued} can take them
   * out.
   */
  void queued(CompletableFuture<float[]> tiles) {
    queued.add(tiles);
  }

  /** Takes this call's tiles out of the batcher's queue: they are skipped, never encoded. */
  void cancelQueued() {
    queued.forEach(q -> q.cancel(false));
  }

  /**
   * The call ended early with {@code why}: no entry it owns may stay open, since other calls wait
   * on them. They hear an Error as it is (an OutOfMemoryError must reach every waiter) and anything
   * else as {@link OwnerGone}, so that a call that joined one encodes the image itself instead of
   * failing for this call's reason.
   */
  void abandon(Throwable why) {
    Throwable told =
        why instanceof Error
            ? why
            : new OwnerGone("the call that was encoding this image ended early");
    for (Miss m : misses) m.result().completeExceptionally(told);
    cancelQueued();
  }

  /**
   * The call ended with one image's own refusal after every other miss's tiles were queued: those
   * are left to finish into the cache (a client that retries without the bad image, or another call
   * that joined one, gets it); only an entry that is neither done nor among {@code encoding} is
   * failed, as {@link #abandon} would.
   */
  void abandonAllBut(java.util.Set<Miss> encoding) {
    OwnerGone told = new OwnerGone("the call that was encoding this image ended early");
    for (Miss m : misses) {
      if (!encoding.contains(m)) m.result().completeExceptionally(told);
    }
  }
}
