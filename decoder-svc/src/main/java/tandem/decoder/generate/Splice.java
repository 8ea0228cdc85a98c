package tandem.decoder.generate;

/**
 * Splicing embedding blocks into a prompt, as HF's {@code Idefics3Model.inputs_merger} does: the
 * rows of the blocks, concatenated in order, replace the token embeddings at the positions where
 * the id equals the image token id. Pure.
 */
public final class Splice {
  private Splice() {}

  public static int countImageTokens(int[] ids, int imageTokenId) {
    int n = 0;
    for (int id : ids) if (id == imageTokenId) n++;
    return n;
  }

  /**
   * @throws IllegalArgumentException with both numbers when the image-token count differs from the
   *     rows
   */
  public static void checkCounts(int[] ids, int imageTokenId, int rows) {
    int n = countImageTokens(ids, imageTokenId);
    if (n != rows) {
      throw new IllegalArgumentException(
          "the prompt has "
              + n
              + " image-token positions (id "
              + imageTokenId
              + ") but the embedding blocks have "
              + rows
              + " rows; they must be equal");
    }
  }

  /**
   * Overwrites, in place, row p of {@code tokenEmbeds} [ids.length, hidden] with the next row of
   * {@code rows} [n, hidden] for every p with ids[p] == imageTokenId. Returns {@code tokenEmbeds}.
   */
  public static float[] splice(
      float[] tokenEmbeds, int[] ids, int hidden, int imageTokenId, float[] rows) {
    checkCounts(ids, imageTokenId, rows.length / hidden);
    int r = 0;
    for (int p = 0; p < ids.length; p++) {
      if (ids[p] == imageTokenId) {
        System.arraycopy(rows, r * hidden, tokenEmbeds, p * hidden, hidden);
        r++;
      }
    }
    return tokenEmbeds;
  }
}
