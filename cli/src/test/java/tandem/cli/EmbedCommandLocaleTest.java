package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

class EmbedCommandLocaleTest {

  /**
   * The last stdout line of {@code vlm embed} is documented as a stable JSON summary that outside
   * checks parse. Under a user locale with a decimal comma (LANG=de_DE.UTF-8 makes that the JVM
   * default) load_ms / encode_ms must still be JSON numbers.
   */
  @Test
  void theJsonSummaryIsValidJsonUnderADecimalCommaLocale(@TempDir Path tmp) throws Exception {
    Locale saved = Locale.getDefault();
    VlmRun r;
    try {
      Locale.setDefault(Locale.GERMANY);
      r =
          VlmRun.of(
              "embed",
              "--model",
              TinyCheckpoints.vlmTiny().toString(),
              "--image",
              Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg").toString(),
              "--out",
              tmp.resolve("tokens.npy").toString());
    } finally {
      Locale.setDefault(saved);
    }
    assertEquals(0, r.code(), r.err());
    String last = r.lastLine();
    assertTrue(
        last.matches(".*\"load_ms\":-?\\d+(\\.\\d+)?,\"encode_ms\":-?\\d+(\\.\\d+)?\\}"),
        "not valid JSON numbers: " + last);
    JsonObject o = JsonParser.parseString(last).getAsJsonObject();
    assertTrue(o.get("encode_ms").getAsJsonPrimitive().isNumber(), last);
  }
}
