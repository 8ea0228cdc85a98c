package tandem.decoder.generate;

/**
 * One prompt to generate from.
 *
 * @param requestId the caller's id (for logs)
 * @param inputIds prompt token ids
 * @param imageEmbeddings rows to splice at the image-token positions, row-major [rows, hidden];
 *     empty for none
 * @param imageTokenId the id whose positions receive the rows
 * @param settings the resolved generation controls
 */
public record GenerationRequest(
    String requestId,
    int[] inputIds,
    float[] imageEmbeddings,
    int imageTokenId,
    GenerationSettings settings) {}
