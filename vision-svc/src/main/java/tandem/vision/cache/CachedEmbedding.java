package tandem.vision.cache;

/**
 * The encoding of one image as the cache keeps it: grid, original size and the connector output as
 * float32 little-endian bytes {@code [tiles * tokensPerTile, hidden]} (bytes, so a hit hands out
 * exactly what a miss did).
 */
public record CachedEmbedding(
    int rows,
    int cols,
    int width,
    int height,
    int tiles,
    int tokensPerTile,
    int hidden,
    byte[] float32le) {
  public CachedEmbedding {
    long want = (long) tiles * tokensPerTile * hidden * 4;
    if (float32le.length != want)
      throw new IllegalArgumentException(
          "embedding holds " + float32le.length + " bytes, expected " + want);
  }

  /**
   * What this entry costs against the cache bound: the data plus a fixed allowance for the objects
   * around it.
   */
  public long costBytes() {
    return float32le.length + 256L;
  }
}
