package tandem.vision.embed;

import tandem.common.error.Rejection;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * Decode and preprocess: a miss's bytes become the tower's tiles, as HF's {@code
 * SmolVLMImageProcessor} makes them.
 */
final class Preprocessing {
  private final ImageDecoder decoder;
  private final PreprocessorConfig config;

  Preprocessing(ImageDecoder decoder, PreprocessorConfig config) {
    this.decoder = decoder;
    this.config = config;
  }

  /**
   * The tiles of {@code miss}, or null when it cannot be encoded; its entry then holds the reason,
   * so whoever waits on the image (in this call or another) hears of it.
   */
  SmolVlmImageProcessor.Processed run(InFlight.Miss miss) {
    if (miss.data() == null || miss.data().length == 0) {
      miss.result()
          .completeExceptionally(
              Rejection.notFound(
                  "image_id '"
                      + miss.imageId()
                      + "' is known but its embedding is no longer cached; send the image bytes"
                      + " again"));
      return null;
    }
    try {
      DecodedImage image = decoder.decode(miss.data());
      if (!config.doConvertRgb() && image.mode() != DecodedImage.Mode.RGB) {
        // the image, not the server: a client mistake (it was INTERNAL)
        miss.result()
            .completeExceptionally(
                Rejection.invalid(
                    "the image is mode "
                        + image.mode()
                        + ", and this model's preprocessor_config.json sets do_convert_rgb=false,"
                        + " which takes RGB images only; send an RGB image"));
        return null;
      }
      return SmolVlmImageProcessor.preprocess(image, config);
    } catch (ImageDecodeException | RuntimeException | Error e) {
      // an OutOfMemoryError too: whoever waits on this image must hear of it
      miss.result().completeExceptionally(e);
      return null;
    }
  }
}
