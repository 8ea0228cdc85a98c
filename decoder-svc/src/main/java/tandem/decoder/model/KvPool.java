package tandem.decoder.model;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;

/**
 * The paged KV cache of both kernels: one pool of fixed-size blocks of {@link #blockTokens}
 * positions, at most {@link #capacity} of them (the memory budget), shared by every sequence
 * through a per-slot block table, and a prefix cache over the same blocks.
 *
 * <ul>
 *   <li>A block's arrays are allocated the first time its id is used and reused after, so memory
 *       follows the most tokens ever held at once, never more than the budget.
 *   <li>A block is <em>referenced</em> by every slot whose table holds it ({@code refs}); a slot
 *       writes only positions past the ones it took from the prefix cache, so a shared block is
 *       never written.
 *   <li>A full block may carry a {@link PrefixKey} (its tokens and everything before them). When
 *       the last reference goes it stays in the cache, unreferenced, and is evicted
 *       least-recently-used when a fresh block is needed.
 * </ul>
 *
 * <p>Layout of one block, for one layer. float32: K {@code [kvHeads, headDim, blockTokens]} (Kᵀ per
 * head, so a score loop reads positions contiguously for each feature) and V {@code [kvHeads,
 * blockTokens, headDim]}. bfloat16: two positions per {@code int}, position {@code t} in the low
 * half and {@code t + blockTokens/2} in the high half, so one int vector widens to the two float
 * vectors of positions the float32 layout holds (K {@code [kvHeads, headDim, blockTokens/2]}, V
 * {@code [kvHeads, blockTokens/2, headDim]}). K is stored after k_norm and RoPE. Position p of a
 * slot is entry {@code p % blockTokens} of its block {@code p / blockTokens}. Driven by one thread
 * (the scheduler's).
 *
 * <p>The libtorch kernel keeps its blocks in tensors of its own ({@link KvCache}) and uses this
 * class for the bookkeeping alone ({@code heapArrays} false): block ids, tables, references and the
 * prefix cache are the same for both kernels. For it the pool also keeps each sequence's blocks at
 * consecutive ids where it can, because {@link KvCache} then reads them as one view of its tensors
 * instead of gathering a copy every step: a slot grows into the id after its last block when that
 * one is free, and a slot starting afresh takes the middle of the longest run of free ids (its
 * start, at id 0), so that sequences growing side by side have room to. The Java kernel's blocks
 * are separate arrays, created as ids are first used: it takes the most recently freed id.
 */
final class KvPool {
  /** Storage type of K and V. */
  enum Dtype {
    F32("f32", 4),
    BF16("bf16", 2),
    /** libtorch's float16 K/V on CUDA (the Java kernel stores f32 or bf16 only). */
    F16("f16", 2);

    final String id;
    final int bytes;

    Dtype(String id, int bytes) {
      this.id = id;
      this.bytes = bytes;
    }

    /** The Java kernel's choices: bf16 or f32. */
    static Dtype parse(String s) {
      for (Dtype d : new Dtype[] {F32, BF16}) if (d.id.equals(s)) return d;
      throw new IllegalArgumentException("KV cache dtype must be bf16 or f32, got '" + s + "'");
    }
  }

  final int layers;
  final int kvHeads;
  final int headDim;
  final int blockTokens;
  final Dtype dtype;

  /** Floats (f32) or ints (bf16) in one block's K (or V) array of one layer. */
  final int blockElems;

  /** Most blocks the pool may hold (the budget). */
  final int capacity;

  private float[][][] kf = new float[0][][]; // [block id][layer] (f32)
  private float[][][] vf = new float[0][][];
  private int[][][] ki = new int[0][][]; // [block id][layer] (bf16 pairs)
  private int[][][] vi = new int[0][][];
  private int[] refs = new int[0];
  private PrefixKey[] keyOf = new PrefixKey[0];
  private int[] free = new int[0]; // allocated ids holding nothing, most recently freed last
  private int stacked; // entries in free; an entry whose bit in isFree is clear is stale
  private final BitSet isFree = new BitSet(); // allocated ids holding nothing
  private int freeCount; // bits set in isFree
  private int created;
  private final Map<PrefixKey, Integer> cached = new HashMap<>();

  /** Unreferenced cached ids, least recently released first. */
  private final LinkedHashSet<Integer> idle = new LinkedHashSet<>();

  private int[][] table; // slot → block ids
  private final int[] held; // blocks per slot
  private long hits;
  private long evictions;

  /**
   * Whether this pool holds the blocks' Java arrays (the Java kernel) or only their ids (libtorch,
   * which also wants each slot's ids consecutive).
   */
  private final boolean heapArrays;

  KvPool(
      int layers, int kvHeads, int headDim, int blockTokens, Dtype dtype, int slots, int capacity) {
    this(layers, kvHeads, headDim, blockTokens, dtype, slots, capacity, true);
  }

  KvPool(
      int layers,
      int kvHeads,
      int headDim,
      int blockTokens,
      Dtype dtype,
      int slots,
      int capacity,
      boolean heapArrays) {
    if (capacity < 1)
      throw new IllegalArgumentException("the KV cache needs at least one block, got " + capacity);
    if (blockTokens % 2 != 0)
      throw new IllegalArgumentException("block tokens must be even, got " + blockTokens);
    this.layers = layers;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.blockTokens = blockTokens;
    this.dtype = dtype;
    int floats = kvHeads * headDim * blockTokens;
    this.blockElems = dtype == Dtype.F32 ? floats : floats / 2;
    this.capacity = capacity;
    this.table = new int[slots][4];
    this.held = new int[slots];
    this.heapArrays = heapArrays;
  }

  /**
   * Creates every block the budget allows now, so that their memory is committed before serving
   * instead of as sequences first reach them (a no-op for libtorch, whose tensors are made at the
   * budget's size).
   */
  void preallocate() {
    if (!heapArrays) return;
    while (created < capacity) give(create());
  }

  /** Bytes one block takes over all layers, K and V. */
  static long blockBytes(int layers, int kvHeads, int headDim, int blockTokens, Dtype dtype) {
    return (long) layers * 2 * kvHeads * headDim * blockTokens * dtype.bytes;
  }

  long blockBytes() {
    return blockBytes(layers, kvHeads, headDim, blockTokens, dtype);
  }

  /**
   * Blocks that can be handed out now: never used, free, or cached but unreferenced (evictable).
   */
  int available() {
    return capacity - created + freeCount + idle.size();
  }

  /** Blocks referenced by at least one slot. */
  int inUse() {
    return created - freeCount - idle.size();
  }

  /** Unreferenced blocks kept for the prefix cache. */
  int idleCached() {
    return idle.size();
  }

  /**
   * Bytes of block arrays allocated so far (in use, cached or free for reuse); for libtorch, whose
   * tensors are created at the budget's size, the whole budget.
   */
  long bytesAllocated() {
    return (long) (heapArrays ? created : capacity) * blockBytes();
  }

  long hits() {
    return hits;
  }

  long evictions() {
    return evictions;
  }

  /** Fresh blocks the slot needs to cover positions [0, tokens). */
  int shortfall(int slot, int tokens) {
    return Math.max(0, (tokens + blockTokens - 1) / blockTokens - held[slot]);
  }

  /** Makes the slot's blocks cover positions [0, tokens), taking fresh blocks as needed. */
  void ensure(int slot, int tokens) {
    int need = (tokens + blockTokens - 1) / blockTokens;
    if (need - held[slot] > available()) {
      throw new KvExhaustedException(
          "the KV cache is out of blocks: "
              + inUse()
              + " of "
              + capacity
              + " blocks of "
              + blockTokens
              + " tokens are in use (the decoder's KV budget); slot "
              + slot
              + " needs "
              + (need - held[slot])
              + " more");
    }
    if (need > table[slot].length)
      table[slot] = Arrays.copyOf(table[slot], Math.max(need, 2 * table[slot].length));
    while (held[slot] < need) {
      int id = take(held[slot] > 0 ? table[slot][held[slot] - 1] + 1 : -1);
      refs[id] = 1;
      table[slot][held[slot]++] = id;
    }
  }

  /**
   * Starts an empty slot with the longest run of cached blocks matching {@code keys} (block i
   * covers positions [i·bt, (i+1)·bt)), at most {@code maxBlocks}; returns how many blocks it took.
   */
  int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
    if (held[slot] != 0) throw new IllegalStateException("slot " + slot + " is not empty");
    int n = Math.min(keys.length, maxBlocks);
    if (n > table[slot].length) table[slot] = Arrays.copyOf(table[slot], n);
    int taken = 0;
    while (taken < n) {
      Integer id = cached.get(keys[taken]);
      if (id == null) break;
      if (refs[id] == 0) idle.remove(id);
      refs[id]++;
      table[slot][taken++] = id;
    }
    held[slot] = taken;
    hits += taken;
    return taken;
  }

  /**
   * Appends to the slot a private copy of the cached block under {@code key}: a fresh block that
   * holds the cached one's values, for a slot that may write into it (a prompt cached to its end
   * computes its last position again, for the logits, and that position lies in this block; the
   * cached block itself is never written). Returns {@code {source id, copy id}} (for libtorch,
   * whose values the kernel copies; this pool copies its own arrays), or null when the key is not
   * cached or no block is available beyond {@code reserved} (blocks promised to others).
   */
  int[] appendCopy(int slot, PrefixKey key, int reserved) {
    Integer found = cached.get(key);
    if (found == null) return null;
    int src = found;
    // an idle source is counted in available() but is not a block the copy can go to
    if (available() - (refs[src] == 0 ? 1 : 0) - reserved < 1) return null;
    // held while a fresh id is taken, so that the eviction of an idle block cannot pick it
    if (refs[src]++ == 0) idle.remove(src);
    int id;
    try {
      if (held[slot] == table[slot].length)
        table[slot] = Arrays.copyOf(table[slot], Math.max(4, 2 * held[slot]));
      id = take(held[slot] > 0 ? table[slot][held[slot] - 1] + 1 : -1);
    } finally {
      if (--refs[src] == 0) idle.add(src);
    }
    if (heapArrays) {
      for (int l = 0; l < layers; l++) {
        if (dtype == Dtype.F32) {
          System.arraycopy(kf[src][l], 0, kf[id][l], 0, blockElems);
          System.arraycopy(vf[src][l], 0, vf[id][l], 0, blockElems);
        } else {
          System.arraycopy(ki[src][l], 0, ki[id][l], 0, blockElems);
          System.arraycopy(vi[src][l], 0, vi[id][l], 0, blockElems);
        }
      }
    }
    refs[id] = 1;
    table[slot][held[slot]++] = id;
    hits++;
    return new int[] {src, id};
  }

  /**
   * Offers the slot's first {@code keys.length} blocks (each full and written) to the prefix cache
   * under those keys. A block already cached, or a key already held by another block, is left as it
   * is.
   */
  void offer(int slot, PrefixKey[] keys) {
    int n = Math.min(keys.length, held[slot]);
    for (int i = 0; i < n; i++) {
      int id = table[slot][i];
      if (keyOf[id] != null || cached.containsKey(keys[i])) continue;
      keyOf[id] = keys[i];
      cached.put(keys[i], id);
    }
  }

  /** Gives the slot's blocks back: unreferenced cached blocks become evictable, the others free. */
  void release(int slot) {
    for (int i = 0; i < held[slot]; i++) {
      int id = table[slot][i];
      if (--refs[id] > 0) continue;
      if (keyOf[id] != null) {
        idle.add(id);
      } else {
        give(id);
      }
    }
    held[slot] = 0;
  }

  /** Forgets every unreferenced cached block (they become free). */
  void clearCache() {
    for (int id : idle) {
      cached.remove(keyOf[id]);
      keyOf[id] = null;
      give(id);
    }
    idle.clear();
  }

  /** The id of the slot's block b (b < {@link #held}). */
  int block(int slot, int b) {
    return table[slot][b];
  }

  float[] keysF(int layer, int slot, int b) {
    return kf[table[slot][b]][layer];
  }

  float[] valuesF(int layer, int slot, int b) {
    return vf[table[slot][b]][layer];
  }

  int[] keysI(int layer, int slot, int b) {
    return ki[table[slot][b]][layer];
  }

  int[] valuesI(int layer, int slot, int b) {
    return vi[table[slot][b]][layer];
  }

  /**
   * The first of the slot's first {@code blocks} ids if they are consecutive, else -1 (also when
   * the slot holds fewer).
   */
  int consecutiveFrom(int slot, int blocks) {
    if (blocks < 1 || blocks > held[slot]) return -1;
    int first = table[slot][0];
    for (int b = 1; b < blocks; b++) if (table[slot][b] != first + b) return -1;
    return first;
  }

  /**
   * A block id for a new position: for libtorch the id after the slot's last block ({@code next},
   * -1 for a slot with none) or a spread-out start when that one is taken; else a free one (the
   * most recently freed), a new one under the budget, or the least recently used idle one.
   */
  private int take(int next) {
    if (!heapArrays) {
      int id = next >= 0 ? next : spreadStart();
      if (id >= 0 && claim(id)) return id;
    }
    while (stacked > 0) {
      int id = free[--stacked];
      if (isFree.get(id)) {
        isFree.clear(id);
        freeCount--;
        return id;
      }
    }
    if (created < capacity) return create();
    var it = idle.iterator();
    int id = it.next(); // ensure() checked available()
    it.remove();
    cached.remove(keyOf[id]);
    keyOf[id] = null;
    evictions++;
    return id;
  }

  private int create() {
    int id = created;
    if (id >= refs.length) {
      int n = Math.min(capacity, Math.max(16, refs.length * 2));
      refs = Arrays.copyOf(refs, n);
      keyOf = Arrays.copyOf(keyOf, n);
      if (heapArrays && dtype == Dtype.F32) {
        kf = Arrays.copyOf(kf, n);
        vf = Arrays.copyOf(vf, n);
      } else if (heapArrays) {
        ki = Arrays.copyOf(ki, n);
        vi = Arrays.copyOf(vi, n);
      }
    }
    if (!heapArrays) {
      created++;
      return id;
    }
    try {
      if (dtype == Dtype.F32) {
        kf[id] = new float[layers][blockElems];
        vf[id] = new float[layers][blockElems];
      } else {
        ki[id] = new int[layers][blockElems];
        vi[id] = new int[layers][blockElems];
      }
    } catch (OutOfMemoryError e) {
      // the heap holds the weights and the KV cache: a full heap fails this step's sequences, not
      // the server
      if (dtype == Dtype.F32) kf[id] = null;
      else ki[id] = null;
      throw new KvExhaustedException(
          "the Java heap has no room for another KV block ("
              + bytesAllocated() / (1 << 20)
              + " MiB of KV held; -Xmx "
              + Runtime.getRuntime().maxMemory() / (1 << 20)
              + " MiB): lower the decoder's KV"
              + " budget or give the JVM more heap");
    }
    created++;
    return id;
  }

  private void give(int id) {
    if (stacked == free.length && stacked > freeCount) { // drop the stale entries first
      int n = 0;
      for (int i = 0; i < stacked; i++) if (isFree.get(free[i])) free[n++] = free[i];
      stacked = n;
    }
    if (stacked == free.length) free = Arrays.copyOf(free, Math.max(16, free.length * 2));
    free[stacked++] = id;
    isFree.set(id);
    freeCount++;
  }

  /**
   * Takes id if it holds nothing: free, or not used yet (the ids skipped on the way become free).
   * Only for a pool without heap arrays, whose new ids cost nothing.
   */
  private boolean claim(int id) {
    if (id < created) {
      if (!isFree.get(id)) return false;
      isFree.clear(id);
      freeCount--;
      return true;
    }
    if (id >= capacity) return false;
    while (created < id) give(create());
    create();
    return true;
  }

  /**
   * Where a slot with no blocks starts: in the longest run of ids that hold nothing (free, or not
   * used yet), its start when the run begins at id 0, else its middle, leaving the first half to
   * whatever sequence ends just before it. -1 when every id is in use or cached.
   */
  private int spreadStart() {
    int bestStart = -1;
    int bestLength = 0;
    for (int i = isFree.nextSetBit(0); i >= 0; ) { // free ids are all below created
      int end = isFree.nextClearBit(i);
      int stop = end == created ? capacity : end; // a run reaching created goes on into unused ids
      if (stop - i > bestLength) {
        bestStart = i;
        bestLength = stop - i;
      }
      i = end == created ? -1 : isFree.nextSetBit(end);
    }
    boolean tailCounted = created > 0 && isFree.get(created - 1);
    if (!tailCounted && capacity - created > bestLength) {
      bestStart = created;
      bestLength = capacity - created;
    }
    if (bestStart < 0) return -1;
    return bestStart == 0 ? 0 : bestStart + bestLength / 2;
  }
}
