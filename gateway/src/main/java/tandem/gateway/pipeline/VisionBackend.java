package tandem.gateway.pipeline;

import java.util.List;
import tandem.common.error.Rejection;

/** vision-svc as the pipeline sees it: images in, one embedding block per image out. */
public interface VisionBackend {
  /**
   * Embeds the images of one request as one batch; blocks until they are embedded, the deadline
   * passes or the call is cancelled.
   *
   * @param maxImageTokens budget for all images together, checked by vision-svc from the headers
   *     before decoding
   * @throws ImageBudgetExceeded when the images need more image tokens than {@code maxImageTokens}
   * @throws Rejection any other failure, naming the backend
   */
  Embedded embed(List<ImageInput> images, long maxImageTokens, CallScope scope);

  /** The backend's name in errors, e.g. {@code vision-svc (10.0.0.3:50052)}. */
  String name();

  /**
   * @param modelId vision-svc's model identity ("" when it sent none)
   */
  record Embedded(List<Image> images, double preprocessMs, double encodeMs, String modelId) {}

  /**
   * One embedded image: its tile grid, original size, and the embedding rows (an opaque handle the
   * decoder backend understands).
   */
  record Image(
      int rows,
      int cols,
      int width,
      int height,
      int tiles,
      long embeddingRows,
      boolean cacheHit,
      EmbeddingHandle embeddings) {}

  /** Embeddings as they came from vision-svc, passed to decoder-svc untouched. */
  interface EmbeddingHandle {}

  /** vision-svc's refusal of the image-token budget: the images need {@code need} tokens. */
  final class ImageBudgetExceeded extends RuntimeException {
    private final long need;

    public ImageBudgetExceeded(long need, String detail) {
      super(detail, null, false, false);
      this.need = need;
    }

    /** Image tokens the images need, or -1 when vision-svc did not say. */
    public long need() {
      return need;
    }
  }
}
