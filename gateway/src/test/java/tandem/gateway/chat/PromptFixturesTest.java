package tandem.gateway.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.common.testing.Fixtures;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * The six conversations of vlm-tiny/prompts.json: rendered string, expanded prompt and ids, all
 * exact.
 */
class PromptFixturesTest {
  static QwenTokenizer tokenizer;

  @BeforeAll
  static void load() {
    tokenizer = tandem.gateway.testing.SharedTokenizer.get();
  }

  static Stream<JsonObject> conversations() throws Exception {
    JsonObject root =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    List<JsonObject> out = new ArrayList<>();
    for (JsonElement e : root.getAsJsonArray("conversations")) out.add(e.getAsJsonObject());
    return out.stream();
  }

  static List<Message> messages(JsonObject conv) {
    List<Message> out = new ArrayList<>();
    for (JsonElement e : conv.getAsJsonArray("messages")) {
      JsonObject m = e.getAsJsonObject();
      Role role = Role.parse(m.get("role").getAsString());
      JsonElement c = m.get("content");
      if (c.isJsonPrimitive()) {
        out.add(Message.ofString(role, c.getAsString()));
        continue;
      }
      List<Part> parts = new ArrayList<>();
      for (JsonElement p : c.getAsJsonArray()) {
        JsonObject item = p.getAsJsonObject();
        switch (item.get("type").getAsString()) {
          case "text" -> parts.add(Part.text(item.get("text").getAsString()));
          case "image" -> parts.add(Part.image(item.get("image").getAsString()));
          default -> throw new AssertionError(item);
        }
      }
      out.add(Message.ofParts(role, parts));
    }
    return out;
  }

  static List<Segment> rendered(JsonObject conv) {
    JsonElement et = conv.get("enable_thinking");
    Boolean enableThinking = et == null || et.isJsonNull() ? null : et.getAsBoolean();
    return ChatTemplate.render(
        messages(conv), conv.get("add_generation_prompt").getAsBoolean(), enableThinking);
  }

  static List<Grid> grids(JsonObject conv) {
    List<Grid> out = new ArrayList<>();
    for (JsonElement g : conv.getAsJsonArray("image_grids")) {
      JsonArray a = g.getAsJsonArray();
      out.add(new Grid(a.get(0).getAsInt(), a.get(1).getAsInt()));
    }
    return out;
  }

  static int[] ints(JsonArray a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
    return out;
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void theTemplateRendersTheSameStringAsJinja2(JsonObject conv) {
    assertEquals(
        conv.get("rendered").getAsString(),
        Segment.render(rendered(conv)),
        conv.get("id").getAsString());
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void theRenderedPromptTokenizesToTheFixtureIds(JsonObject conv) {
    assertArrayEquals(
        ints(conv.getAsJsonArray("rendered_input_ids")), tokenizer.encode(rendered(conv)));
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void theExpandedPromptStringIsExact(JsonObject conv) {
    List<Segment> expanded = ImageExpansion.expand(rendered(conv), grids(conv), 64);
    assertEquals(
        conv.get("prompt").getAsString(), Segment.render(expanded), conv.get("id").getAsString());
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void theExpandedPromptTokenizesToTheFixtureInputIds(JsonObject conv) {
    List<Segment> expanded = ImageExpansion.expand(rendered(conv), grids(conv), 64);
    int[] ids = tokenizer.encode(expanded);
    assertArrayEquals(ints(conv.getAsJsonArray("input_ids")), ids);
    assertEquals(
        conv.get("n_image_pad_tokens").getAsInt(),
        java.util.Arrays.stream(ids).filter(i -> i == 151655).count());
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void segmentEncodingAgreesWithRustTokenizersOnTheWholeString(JsonObject conv) {
    // Independent check of the segment trick: HF's own added-token matching over the whole string.
    String prompt = conv.get("prompt").getAsString();
    assertArrayEquals(ints(conv.getAsJsonArray("input_ids")), tokenizer.encodeReference(prompt));
  }
}
