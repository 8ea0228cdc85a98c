package tandem.gateway.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * One bundled Qwen3 tokenizer for all tests of a run (loading it takes seconds on a busy 2-core
 * machine).
 */
public final class SharedTokenizer {
  private SharedTokenizer() {}

  private static QwenTokenizer instance;

  public static synchronized QwenTokenizer get() {
    if (instance == null) {
      try {
        instance = QwenTokenizer.bundled();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return instance;
  }
}
