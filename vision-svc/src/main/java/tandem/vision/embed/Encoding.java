package tandem.vision.embed;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * Batch and encode: a miss's tiles join the batcher's queue (sharing forward passes with every
 * other image waiting), and the tower's output for them becomes the embedding the cache keeps.
 */
final class Encoding {
  private final TileBatcher batcher;
  private final int tokensPerTile;
  private final int hidden;

  Encoding(TileBatcher batcher, int tokensPerTile, int hidden) {
    this.batcher = batcher;
    this.tokensPerTile = tokensPerTile;
    this.hidden = hidden;
  }

  /**
   * Queues the tiles of {@code pre}, in batches of at most {@code maxBatchTiles} when that is
   * positive, and completes {@code result} when the last of them is encoded. Returns the batcher's
   * future (cancel it to unqueue the tiles).
   */
  CompletableFuture<float[]> submit(
      SmolVlmImageProcessor.Processed pre,
      int maxBatchTiles,
      CompletableFuture<CachedEmbedding> result) {
    CompletableFuture<float[]> tiles =
        maxBatchTiles > 0
            ? batcher.submit(pre.pixelValues(), pre.tiles(), maxBatchTiles)
            : batcher.submit(pre.pixelValues(), pre.tiles());
    tiles.whenComplete(
        (out, err) -> {
          if (err != null) {
            result.completeExceptionally(err);
            return;
          }
          try {
            result.complete(embedding(pre, out));
          } catch (RuntimeException | Error e) {
            result.completeExceptionally(e);
          }
        });
    return tiles;
  }

  /** The tower's output {@code [tiles, tokens, hidden]} with the image's grid and size. */
  CachedEmbedding embedding(SmolVlmImageProcessor.Processed pre, float[] out) {
    return new CachedEmbedding(
        pre.rows(),
        pre.cols(),
        pre.width(),
        pre.height(),
        pre.tiles(),
        tokensPerTile,
        hidden,
        littleEndian(out));
  }

  /** The batch cap this call's tiles ran under. */
  int cap(int maxBatchTiles) {
    return maxBatchTiles > 0 ? Math.min(maxBatchTiles, batcher.maxTiles()) : batcher.maxTiles();
  }

  static byte[] littleEndian(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }
}
