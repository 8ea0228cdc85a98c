package tandem.vision.embed;

import tandem.common.error.Rejection;
import tandem.vision.embed.Embedder.ImageInput;

/**
 * Validate: the call's own arguments, the image count and every image's shape (bytes or an id, and
 * its size), so a request is refused whole before any work is done.
 */
final class RequestCheck {
  private final EmbedLimits limits;

  RequestCheck(EmbedLimits limits) {
    this.limits = limits;
  }

  /** The per-call knobs, named as the request's fields. */
  static void arguments(int maxBatchTiles, int maxImageTokens) {
    if (maxBatchTiles < 0) {
      throw Rejection.invalid(
          "max_batch_tiles must be >= 0 (0 = server default), got " + maxBatchTiles);
    }
    if (maxImageTokens < 0) {
      throw Rejection.invalid(
          "max_image_tokens must be >= 0 (0 = no budget), got " + maxImageTokens);
    }
  }

  void count(int images) {
    if (images == 0)
      throw Rejection.invalid("the request has no images (send 1 to " + limits.maxImages() + ")");
    if (images > limits.maxImages()) {
      throw Rejection.invalid(
          "the request has " + images + " images; at most " + limits.maxImages() + " are allowed");
    }
  }

  void image(int i, ImageInput in) {
    if (!in.hasData() && !in.hasId())
      throw Rejection.invalid("image " + i + " has neither data nor image_id");
    if (in.hasData() && in.data().length > limits.maxImageBytes()) {
      throw Rejection.invalid(
          "image "
              + i
              + " is "
              + in.data().length
              + " bytes; the limit is "
              + limits.maxImageBytes()
              + " bytes");
    }
  }
}
