package tandem.vision.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class EmbeddingCacheTest {
  static CacheKey key(String hash) {
    return new CacheKey(hash, "pre-v1", "model-a");
  }

  static CachedEmbedding entry(int tiles) {
    return new CachedEmbedding(
        0, 0, 10, 10, tiles, 2, 4, new byte[tiles * 2 * 4 * 4]); // 32 bytes per tile
  }

  @Test
  void aHitReturnsTheSameEntryAsTheMissThatStoredIt() throws Exception {
    EmbeddingCache c = new EmbeddingCache(1 << 20);
    CachedEmbedding e = entry(1);
    var miss = c.getOrCompute(key("a"), () -> CompletableFuture.completedFuture(e));
    assertEquals(EmbeddingCache.Source.MISS, miss.source());
    var hit =
        c.getOrCompute(
            key("a"),
            () -> {
              throw new AssertionError("must not recompute");
            });
    assertEquals(EmbeddingCache.Source.HIT, hit.source());
    assertSame(miss.embedding().get(), hit.embedding().get());
    assertEquals(new EmbeddingCache.Stats(1, 1, 0, 0, 1, e.costBytes(), 1 << 20), c.stats());
  }

  @Test
  void anyPartOfTheKeyChangingIsAMiss() {
    EmbeddingCache c = new EmbeddingCache(1 << 20);
    c.getOrCompute(
        new CacheKey("h", "pre-v1", "m"), () -> CompletableFuture.completedFuture(entry(1)));
    for (CacheKey k :
        new CacheKey[] {
          new CacheKey("h2", "pre-v1", "m"),
          new CacheKey("h", "pre-v2", "m"),
          new CacheKey("h", "pre-v1", "m2")
        })
      assertEquals(
          EmbeddingCache.Source.MISS,
          c.getOrCompute(k, () -> CompletableFuture.completedFuture(entry(1))).source(),
          k.toString());
  }

  @Test
  void theLeastRecentlyUsedEntriesAreEvictedToStayUnderTheByteBound() {
    long per = entry(1).costBytes();
    EmbeddingCache c = new EmbeddingCache(3 * per);
    for (String h : new String[] {"a", "b", "c"})
      c.getOrCompute(key(h), () -> CompletableFuture.completedFuture(entry(1)));
    c.getOrCompute(
        key("a"), () -> CompletableFuture.completedFuture(entry(1))); // touch a: b is now eldest
    c.getOrCompute(key("d"), () -> CompletableFuture.completedFuture(entry(1)));
    assertNull(c.peek(key("b")));
    assertNotNull(c.peek(key("a")));
    assertNotNull(c.peek(key("c")));
    assertNotNull(c.peek(key("d")));
    EmbeddingCache.Stats s = c.stats();
    assertEquals(1, s.evictions());
    assertTrue(s.bytes() <= s.maxBytes());
  }

  @Test
  void anEntryLargerThanTheWholeCacheIsServedButNotStored() throws Exception {
    EmbeddingCache c = new EmbeddingCache(100);
    var r = c.getOrCompute(key("big"), () -> CompletableFuture.completedFuture(entry(4)));
    assertNotNull(r.embedding().get());
    assertNull(c.peek(key("big")));
    assertEquals(0, c.stats().bytes());
  }

  @Test
  void identicalKeysInFlightTogetherAreComputedOnce() throws Exception {
    EmbeddingCache c = new EmbeddingCache(1 << 20);
    AtomicInteger computed = new AtomicInteger();
    CompletableFuture<CachedEmbedding> slow = new CompletableFuture<>();
    var first =
        c.getOrCompute(
            key("x"),
            () -> {
              computed.incrementAndGet();
              return slow;
            });
    var second =
        c.getOrCompute(
            key("x"),
            () -> {
              computed.incrementAndGet();
              return slow;
            });
    assertEquals(EmbeddingCache.Source.JOINED, second.source());
    assertEquals(1, c.inFlight());
    slow.complete(entry(1));
    assertSame(first.embedding().get(), second.embedding().get());
    assertEquals(1, computed.get());
    assertEquals(0, c.inFlight());
  }

  @Test
  void aFailedComputationIsNotCachedAndTheNextCallerRetries() throws Exception {
    EmbeddingCache c = new EmbeddingCache(1 << 20);
    var failed =
        c.getOrCompute(
            key("f"), () -> CompletableFuture.failedFuture(new IllegalStateException("boom")));
    assertThrows(ExecutionException.class, () -> failed.embedding().get());
    var retry = c.getOrCompute(key("f"), () -> CompletableFuture.completedFuture(entry(1)));
    assertEquals(EmbeddingCache.Source.MISS, retry.source());
    assertNotNull(retry.embedding().get());
  }

  @Test
  void anImageIdBoundToOtherBytesIsRefused() throws Exception {
    ImageIdRegistry ids = new ImageIdRegistry(10);
    ids.bind("cat", "h1");
    ids.bind("cat", "h1"); // same content again is fine
    var e = assertThrows(ImageIdRegistry.ReboundException.class, () -> ids.bind("cat", "h2"));
    assertTrue(
        e.getMessage().contains("image_id 'cat' is already bound to other image bytes"),
        e.getMessage());
    assertFalse(
        e.getMessage().contains("h1") || e.getMessage().contains("h2"),
        "no content hash: " + e.getMessage());
    assertEquals("h1", ids.lookup("cat").orElseThrow());
  }
}
