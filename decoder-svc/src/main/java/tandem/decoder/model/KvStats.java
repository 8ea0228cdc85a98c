package tandem.decoder.model;

/**
 * The paged KV cache at one moment.
 *
 * @param blockTokens positions per block
 * @param capacityBlocks blocks the budget allows
 * @param usedBlocks blocks referenced by running sequences
 * @param cachedBlocks unreferenced blocks kept for prefix reuse (evictable)
 * @param availableBlocks blocks a new position can take now: never used, free, or cached and
 *     evictable
 * @param blockBytes bytes of one block over all layers, K and V
 * @param bytesAllocated bytes of block arrays allocated so far (they are kept for reuse, never more
 *     than the budget); libtorch's KV tensors are created at the budget's size, so there it is the
 *     budget
 * @param prefixHits blocks taken from the prefix cache so far
 * @param evictions cached blocks evicted so far
 * @param dtype "bf16" or "f32"
 */
public record KvStats(
    int blockTokens,
    int capacityBlocks,
    int usedBlocks,
    int cachedBlocks,
    int availableBlocks,
    long blockBytes,
    long bytesAllocated,
    long prefixHits,
    long evictions,
    String dtype) {}
