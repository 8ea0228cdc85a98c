package tandem.gateway.chat;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Decides whether a checkpoint's chat template is the one {@link ChatTemplate} implements. The
 * gateway renders prompts in Java, so a checkpoint with any other template must be refused at
 * start: serving it would silently produce a different prompt than Hugging Face's
 * apply_chat_template.
 */
public final class ChatTemplates {
  private ChatTemplates() {}

  private static final String KNOWN_RESOURCE = "/tandem/tokenizer/qwen3-smvl-chat_template.jinja";

  /** The Qwen3-SmVL template text bundled in common. */
  public static String known() {
    try (InputStream in = ChatTemplates.class.getResourceAsStream(KNOWN_RESOURCE)) {
      if (in == null) throw new IllegalStateException("missing resource " + KNOWN_RESOURCE);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + KNOWN_RESOURCE, e);
    }
  }

  /**
   * True when both templates are equal after collapsing whitespace runs (Jinja's own layout is
   * irrelevant).
   */
  public static boolean sameTemplate(String a, String b) {
    return normalize(a).equals(normalize(b));
  }

  static String normalize(String s) {
    return s.replaceAll("\\s+", " ").strip();
  }

  /**
   * Reads the checkpoint's template ({@code chat_template.jinja}, else {@code
   * tokenizer_config.json}'s {@code chat_template}, a string or the "default" entry of a list) and
   * fails with a message naming the file unless it is the Qwen3-SmVL template.
   */
  public static void requireKnown(Path checkpointDir) throws IOException {
    Path jinja = checkpointDir.resolve("chat_template.jinja");
    Path config = checkpointDir.resolve("tokenizer_config.json");
    String template;
    Path from;
    if (Files.isRegularFile(jinja)) {
      template = Files.readString(jinja);
      from = jinja;
    } else if (Files.isRegularFile(config)) {
      template = templateFromConfig(Files.readString(config));
      from = config;
      if (template == null) {
        throw new IllegalStateException(
            config
                + " has no chat_template; the gateway only serves checkpoints with the Qwen3-SmVL"
                + " chat template");
      }
    } else {
      throw new IllegalStateException(
          checkpointDir
              + " has neither chat_template.jinja nor tokenizer_config.json; cannot check its chat"
              + " template");
    }
    if (!sameTemplate(template, known())) {
      throw new IllegalStateException(
          "the chat template in "
              + from
              + " is not the Qwen3-SmVL template this gateway implements (it renders prompts in"
              + " Java and refuses templates it does not know rather than build a different"
              + " prompt)");
    }
  }

  static String templateFromConfig(String json) {
    JsonObject o = JsonParser.parseString(json).getAsJsonObject();
    JsonElement t = o.get("chat_template");
    if (t == null || t.isJsonNull()) return null;
    if (t.isJsonPrimitive()) return t.getAsString();
    if (t.isJsonArray()) {
      for (JsonElement e : t.getAsJsonArray()) {
        JsonObject named = e.getAsJsonObject();
        if ("default".equals(named.get("name").getAsString()))
          return named.get("template").getAsString();
      }
    }
    return null;
  }
}
