package tandem.decoder.generate;

/**
 * The counts behind splicing embedding blocks into a prompt, as HF's {@code
 * Idefics3Model.inputs_merger} does: the rows of the blocks, concatenated in order, replace the
 * token embeddings at the positions where the id equals the image token id, so there must be one
 * row per such position. The scheduler splices the rows chunk by chunk ({@code
 * Scheduler.embeddings}). Pure.
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
}
