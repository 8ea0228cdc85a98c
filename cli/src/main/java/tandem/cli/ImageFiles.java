package tandem.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;

/**
 * The image files of {@code vlm preprocess}, {@code vlm embed} and {@code vlm prompt}: a
 * checkpoint's image processor settings and an image decoded as vision-svc decodes it, each failure
 * a {@link UserError} naming the file.
 */
final class ImageFiles {
  private ImageFiles() {}

  /** {@code model}'s preprocessor_config.json (and processor_config.json when present). */
  static PreprocessorConfig processorConfig(Path model) {
    try {
      return PreprocessorConfig.fromDir(model);
    } catch (IOException | RuntimeException e) {
      throw new UserError(
          "cannot read the preprocessor config in " + model + ": " + e.getMessage());
    }
  }

  /**
   * {@code image} decoded with vision-svc's default limits; {@code what} names it in messages
   * ("--image F").
   */
  static DecodedImage decode(Path image, String what) throws IOException {
    if (!Files.isRegularFile(image)) throw new UserError(what + " is not a readable file");
    ImageDecoder decoder = ImageDecoder.withDefaults();
    long size = Files.size(image);
    if (size > decoder.maxBytes()) {
      throw new UserError(what + " is " + size + " bytes, the limit is " + decoder.maxBytes());
    }
    try {
      return decoder.decode(Files.readAllBytes(image));
    } catch (ImageDecodeException e) {
      throw new UserError(what + ": " + e.getMessage());
    }
  }
}
