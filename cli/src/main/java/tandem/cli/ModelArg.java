package tandem.cli;

import java.nio.file.Path;
import tandem.common.hub.ModelResolver;

/**
 * A {@code --model} value (or {@code TANDEM_MODEL}) as a local folder: an existing folder as it is,
 * otherwise a Hub repo id {@code org/name[@rev]} fetched into the Hugging Face cache
 * (docs/download.md).
 */
final class ModelArg {
  private ModelArg() {}

  static Path resolve(String arg) {
    try {
      return ModelResolver.resolve(arg);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }
}
