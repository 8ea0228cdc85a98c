package tandem.vision.cache;

/**
 * What an embedding depends on: the image bytes (by SHA-256), every preprocessing setting, and the
 * model that encoded it. Any change in one of the three gives another key, so a changed setting or
 * checkpoint can never return stale embeddings.
 *
 * @param contentHash hex SHA-256 of the encoded image bytes
 * @param preprocessKey {@code PreprocessorConfig.cacheKey()} plus decoder settings that alter
 *     pixels
 * @param modelId {@code VisionTower.modelId()}: SHA-256 over the tower's weights and shapes
 */
public record CacheKey(String contentHash, String preprocessKey, String modelId) {
  public CacheKey {
    if (contentHash.isEmpty() || modelId.isEmpty())
      throw new IllegalArgumentException("empty cache key part");
  }
}
