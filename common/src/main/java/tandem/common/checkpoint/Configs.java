package tandem.common.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Shared gson setup for the HF config records. */
final class Configs {
  private Configs() {}

  static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

  static JsonObject readObject(Path file) throws IOException {
    try {
      JsonElement e = JsonParser.parseString(Files.readString(file));
      if (!e.isJsonObject()) throw new IOException(file + " is not a JSON object");
      return e.getAsJsonObject();
    } catch (RuntimeException e) {
      throw new IOException("cannot parse " + file + ": " + e.getMessage(), e);
    }
  }

  static <T> T bind(JsonObject o, Class<T> type, String where) {
    try {
      return GSON.fromJson(o, type);
    } catch (RuntimeException e) {
      // gson wraps the compact constructor's exception, whose message names the bad key: report
      // that one
      Throwable t = e;
      while (t.getCause() != null && !(t instanceof IllegalArgumentException && t != e))
        t = t.getCause();
      throw new IllegalArgumentException(where + ": " + t.getMessage(), e);
    }
  }

  static void positive(String key, long value) {
    if (value <= 0) throw new IllegalArgumentException(key + " must be positive, got " + value);
  }
}
