package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The block pool's bookkeeping: budget, references, the prefix cache and its LRU eviction, and for
 * libtorch consecutive ids per slot.
 */
class KvPoolTest {
  private static final int BT = 4;

  private static KvPool pool(int capacity) {
    return new KvPool(2, 1, 8, BT, KvPool.Dtype.BF16, 3, capacity);
  }

  private static PrefixKey[] keys(long... ids) {
    PrefixKey[] k = new PrefixKey[ids.length];
    for (int i = 0; i < ids.length; i++) k[i] = new PrefixKey(ids[i], ~ids[i]);
    return k;
  }

  @Test
  void blocksFollowTheTokensHeldAndNeverExceedTheBudget() {
    KvPool p = pool(5);
    assertEquals(5, p.available());
    p.ensure(0, 1);
    assertEquals(1, p.inUse());
    p.ensure(0, 9); // 3 blocks
    assertEquals(3, p.inUse());
    assertEquals(3 * p.blockBytes(), p.bytesAllocated());
    assertEquals(2, p.shortfall(1, 8));
    p.ensure(1, 8);
    assertEquals(0, p.available());
    KvExhaustedException e = assertThrows(KvExhaustedException.class, () -> p.ensure(2, 1));
    assertTrue(e.getMessage().contains("5 of 5 blocks"), e.getMessage());
    p.release(0);
    assertEquals(3, p.available());
    p.ensure(2, 12);
    assertEquals(
        5 * p.blockBytes(), p.bytesAllocated(), "freed blocks are reused, not allocated anew");
  }

  @Test
  void aCachedPrefixIsSharedAndStaysWhileAnySlotHoldsIt() {
    KvPool p = pool(6);
    p.ensure(0, 10); // 3 blocks, two of them full
    int[] k0 = p.keysI(0, 0, 0);
    p.offer(0, keys(1, 2));
    assertEquals(2, p.reuse(1, keys(1, 2, 3), 3), "the third key was never offered");
    assertSame(k0, p.keysI(0, 1, 0), "slot 1 reads slot 0's first block itself");
    assertEquals(3, p.inUse(), "shared blocks count once");
    p.release(0);
    assertEquals(2, p.inUse(), "slot 1 still holds the shared blocks");
    assertEquals(0, p.idleCached());
    p.release(1);
    assertEquals(2, p.idleCached(), "unreferenced cached blocks stay for reuse");
    assertEquals(6, p.available(), "and count as available (evictable)");
    assertEquals(1, p.reuse(2, keys(1, 9), 2), "a prefix matches block by block from the start");
    assertEquals(3, p.hits(), "hits count every reused block");
  }

  @Test
  void theLeastRecentlyReleasedCachedBlockIsEvictedFirst() {
    KvPool p = pool(2);
    p.ensure(0, 4);
    p.offer(0, keys(1));
    p.release(0);
    p.ensure(1, 4);
    p.offer(1, keys(2));
    p.release(1);
    assertEquals(2, p.idleCached());
    p.ensure(
        2, 4); // needs a block: the pool is at capacity, so the older cached block (key 1) goes
    assertEquals(1, p.evictions());
    p.release(2);
    assertEquals(0, p.reuse(0, keys(1), 1), "key 1 was evicted");
    assertEquals(1, p.reuse(1, keys(2), 1), "key 2 is still cached");
  }

  @Test
  void aKeyOfferedTwiceKeepsItsFirstBlockAndAReusedLimitIsHonoured() {
    KvPool p = pool(8);
    p.ensure(0, 8);
    p.ensure(1, 8);
    p.offer(0, keys(1, 2));
    p.offer(1, keys(1, 2)); // the same content computed twice: the first copy stays the cached one
    int[] first = p.keysI(0, 0, 0);
    p.release(0);
    p.release(1);
    assertEquals(2, p.idleCached(), "slot 1's duplicates were freed, not cached");
    assertEquals(1, p.reuse(2, keys(1, 2), 1), "at most maxBlocks are taken");
    assertSame(first, p.keysI(0, 2, 0));
    assertNotSame(first, p.keysI(1, 2, 0), "layers have their own arrays");
  }

  @Test
  void clearingTheCacheFreesOnlyUnreferencedBlocks() {
    KvPool p = pool(4);
    p.ensure(0, 8);
    p.offer(0, keys(1, 2));
    p.ensure(1, 4);
    p.offer(1, keys(7));
    p.release(1);
    p.clearCache();
    assertEquals(0, p.idleCached());
    assertEquals(0, p.reuse(2, keys(7), 1), "the unreferenced block left the cache");
    p.release(0);
    assertEquals(2, p.idleCached(), "slot 0's blocks were in use during the clear and stay cached");
  }

  /** A pool for libtorch: ids only, kept consecutive per slot where possible. */
  private static KvPool torchPool(int capacity) {
    return new KvPool(2, 1, 8, BT, KvPool.Dtype.F32, 3, capacity, false);
  }

  @Test
  void forLibtorchSlotsGrowingSideBySideKeepTheirIdsConsecutive() {
    KvPool p = torchPool(16);
    p.ensure(0, 1);
    p.ensure(1, 1);
    assertEquals(0, p.block(0, 0), "the first slot starts at id 0");
    assertEquals(8, p.block(1, 0), "the next one in the middle of the free ids after it");
    for (int tokens = 2 * BT; tokens <= 7 * BT; tokens += BT) {
      p.ensure(0, tokens);
      p.ensure(1, tokens);
    }
    assertEquals(0, p.consecutiveFrom(0, 7));
    assertEquals(8, p.consecutiveFrom(1, 7));
    assertEquals(14, p.inUse());
    assertEquals(2, p.available(), "ids skipped on the way count as free");
    assertEquals(16 * p.blockBytes(), p.bytesAllocated(), "libtorch's tensors hold the budget");
    p.ensure(0, 8 * BT); // id 7 is still free
    assertEquals(0, p.consecutiveFrom(0, 8));
    p.ensure(0, 9 * BT); // id 8 is slot 1's: the last free id, 15, instead
    assertEquals(15, p.block(0, 8));
    assertEquals(-1, p.consecutiveFrom(0, 9), "no longer consecutive");
    assertEquals(0, p.consecutiveFrom(0, 8), "its first eight blocks still are");
    assertEquals(-1, p.consecutiveFrom(2, 1), "a slot holding no block");
    assertThrows(KvExhaustedException.class, () -> p.ensure(2, 1));
  }

  @Test
  void aCopiedBlockHoldsTheCachedValuesAndIsTheSlotsOwnWhileTheCachedOneStaysUntouched() {
    KvPool p = pool(4);
    p.ensure(0, 2 * BT);
    for (int l = 0; l < 2; l++) {
      for (int b = 0; b < 2; b++) {
        int[] k = p.keysI(l, 0, b);
        int[] v = p.valuesI(l, 0, b);
        for (int i = 0; i < k.length; i++) {
          k[i] = 1000 * l + 100 * b + i;
          v[i] = -(1000 * l + 100 * b + i);
        }
      }
    }
    p.offer(0, keys(1, 2));
    p.release(0); // both blocks idle in the cache
    assertEquals(1, p.reuse(1, keys(1, 2), 1), "all but the last block are shared");
    int cachedId = 1; // slot 0's second block
    int[] ids = p.appendCopy(1, keys(1, 2)[1], 0);
    assertEquals(cachedId, ids[0], "the copy's source is the cached block");
    assertTrue(ids[1] != cachedId, "into a block of its own");
    assertEquals(ids[1], p.block(1, 1));
    for (int l = 0; l < 2; l++) {
      for (int i = 0; i < p.blockElems; i++) {
        assertEquals(1000 * l + 100 + i, p.keysI(l, 1, 1)[i], "K copied, layer " + l);
        assertEquals(-(1000 * l + 100 + i), p.valuesI(l, 1, 1)[i], "V copied, layer " + l);
      }
    }
    p.keysI(0, 1, 1)[0] = 7; // the slot writes its copy
    assertEquals(3, p.inUse() + p.idleCached(), "shared block, copy, and the idle cached source");
    p.release(1);
    assertEquals(2, p.reuse(2, keys(1, 2), 2), "both keys are still cached");
    assertEquals(cachedId, p.block(2, 1));
    assertEquals(100, p.keysI(0, 2, 1)[0], "the cached block kept its values");
    assertEquals(null, p.appendCopy(1, keys(9)[0], 0), "a key that is not cached");
  }

  @Test
  void preallocatingCreatesEveryBlockOnceAndTheyAreHandedOutWithoutMore() {
    KvPool p = pool(5);
    assertEquals(0, p.bytesAllocated());
    p.preallocate();
    assertEquals(5 * p.blockBytes(), p.bytesAllocated(), "every block of the budget");
    assertEquals(5, p.available());
    assertEquals(0, p.inUse());
    p.ensure(0, 5 * BT);
    assertEquals(5, p.inUse());
    assertEquals(5 * p.blockBytes(), p.bytesAllocated(), "no block created past the budget");
    for (int b = 0; b < 5; b++) assertEquals(p.blockElems, p.keysI(1, 0, b).length);
    p.release(0);
    p.preallocate(); // again: nothing to do
    assertEquals(5 * p.blockBytes(), p.bytesAllocated());
    KvPool torch = torchPool(4);
    torch.preallocate(); // ids only: libtorch's tensors are made at the budget's size anyway
    assertEquals(4, torch.available());
  }

  @Test
  void aCopyNeedsABlockBeyondThoseReservedAndNeverEvictsItsOwnSource() {
    KvPool p = pool(2);
    p.ensure(0, BT);
    p.offer(0, keys(5));
    p.release(0); // one idle cached block, one never used
    assertEquals(null, p.appendCopy(1, keys(5)[0], 1), "the only other block is reserved");
    int[] ids = p.appendCopy(1, keys(5)[0], 0);
    assertEquals(0, ids[0]);
    assertEquals(1, ids[1]);
    assertEquals(1, p.idleCached(), "the source stays cached (unreferenced)");
    p.ensure(2, 0);
    assertEquals(
        null, p.appendCopy(2, keys(5)[0], 0), "the source alone is available: no room for a copy");
    assertEquals(1, p.idleCached(), "and it was not evicted by the attempt");
  }

  @Test
  void forLibtorchAReusedPrefixGrowsIntoTheIdAfterItAndFreedRunsAreReusedWhole() {
    KvPool p = torchPool(16);
    p.ensure(0, 3 * BT);
    p.offer(0, keys(1, 2, 3));
    p.release(0);
    assertEquals(3, p.reuse(1, keys(1, 2, 3), 3));
    p.ensure(1, 5 * BT);
    assertEquals(0, p.consecutiveFrom(1, 5), "the cached blocks 0-2 and then 3, 4");
    p.ensure(2, 1); // in the middle of ids 5-15
    assertEquals(10, p.block(2, 0));
    p.release(1); // ids 0-2 cached, 3-4 free
    p.release(2);
    p.clearCache(); // every id free again, 0-10 used once
    p.ensure(0, 6 * BT);
    assertEquals(0, p.consecutiveFrom(0, 6), "the longest free run starts at id 0");
  }

  @Test
  void javaKernelPoolsTakeIdsInFirstUseOrderAndTheMostRecentlyFreedFirst() {
    KvPool p = pool(8);
    p.ensure(0, 1);
    p.ensure(1, 2 * BT);
    assertEquals(0, p.block(0, 0));
    assertEquals(1, p.consecutiveFrom(1, 2), "no spreading: new arrays in id order");
    assertEquals(3 * p.blockBytes(), p.bytesAllocated());
    p.release(1);
    p.ensure(2, 1);
    assertEquals(2, p.block(2, 0), "the most recently freed id");
  }
}
