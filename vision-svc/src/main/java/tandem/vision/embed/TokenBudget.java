package tandem.vision.embed;

import java.util.List;
import tandem.common.error.Rejection;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.embed.Embedder.ImageInput;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * The caller's image-token budget (the prompt room the gateway has left): tiles × tokens per tile
 * over all images, from each image's header or its cached grid, so nothing is decoded, looked up or
 * encoded above the budget.
 */
final class TokenBudget {
  private final EmbeddingCache cache;
  private final ImageDecoder decoder;
  private final PreprocessorConfig preprocessor;
  private final int tokensPerTile;

  TokenBudget(
      EmbeddingCache cache,
      ImageDecoder decoder,
      PreprocessorConfig preprocessor,
      int tokensPerTile) {
    this.cache = cache;
    this.decoder = decoder;
    this.preprocessor = preprocessor;
    this.tokensPerTile = tokensPerTile;
  }

  void check(List<ImageInput> images, CacheKey[] keys, int budget) {
    long need = 0;
    StringBuilder grids = new StringBuilder();
    for (int i = 0; i < images.size(); i++) {
      ImageInput in = images.get(i);
      int tiles;
      int rows;
      int cols;
      CachedEmbedding cached = cache.peek(keys[i]);
      if (cached != null) {
        tiles = cached.tiles();
        rows = cached.rows();
        cols = cached.cols();
      } else if (in.hasData()) {
        ImageDecoder.Header h;
        try {
          h = decoder.probe(in.data());
        } catch (ImageDecodeException e) {
          throw new Rejection(Rejection.Kind.INVALID, "image " + i + ": " + e.getMessage(), e);
        }
        int[] g = SmolVlmImageProcessor.grid(h.height(), h.width(), preprocessor);
        rows = g[0];
        cols = g[1];
        tiles = g[2];
      } else {
        continue; // known id, no longer cached: preprocessing answers NOT_FOUND
      }
      need += (long) tiles * tokensPerTile;
      if (grids.length() > 0) grids.append(", ");
      grids.append(rows == 0 ? "1 tile" : rows + "x" + cols + "+1 tiles");
    }
    if (need > budget) {
      throw Rejection.invalid(
          "the images need "
              + need
              + " image tokens ("
              + grids
              + ", "
              + tokensPerTile
              + " tokens per tile) but the caller's budget is "
              + budget
              + " (max_image_tokens)");
    }
  }
}
