package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.cli.chat.ConversationInput;
import tandem.common.testing.Fixtures;
import tandem.gateway.pipeline.GatewayModel;

/**
 * {@code vlm prompt} on the vlm-tiny checkpoint reproduces prompts.json: grids from the real image
 * processor.
 */
class PromptCommandTest {
  @TempDir static Path tmp;

  static Stream<JsonObject> conversations() throws Exception {
    JsonObject root =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    List<JsonObject> out = new ArrayList<>();
    for (JsonElement e : root.getAsJsonArray("conversations")) out.add(e.getAsJsonObject());
    return out.stream();
  }

  /** The fixture's messages in the CLI's --messages format (image items by path). */
  static Path messagesFile(JsonObject conv) throws Exception {
    Path images = Fixtures.path("vlm-tiny/images");
    JsonArray msgs = conv.getAsJsonArray("messages").deepCopy();
    for (JsonElement m : msgs) {
      JsonElement c = m.getAsJsonObject().get("content");
      if (!c.isJsonArray()) continue;
      for (JsonElement it : c.getAsJsonArray()) {
        JsonObject item = it.getAsJsonObject();
        if (!item.get("type").getAsString().equals("image")) continue;
        String name = item.remove("image").getAsString();
        Path p;
        try (var files = Files.list(images)) {
          p =
              files
                  .filter(f -> f.getFileName().toString().startsWith(name + "."))
                  .findFirst()
                  .orElseThrow();
        }
        item.addProperty("path", p.toString());
      }
    }
    Path f = tmp.resolve(conv.get("id").getAsString() + ".json");
    Files.writeString(f, msgs.toString());
    return f;
  }

  static GatewayModel model;

  @BeforeAll
  static void loadOnce() throws Exception {
    model = GatewayModel.load(Fixtures.path("vlm-tiny/checkpoint"));
  }

  @AfterAll
  static void closeModel() {
    model.close();
  }

  @ParameterizedTest(name = "{index}: {0}")
  @MethodSource("conversations")
  void thePromptOfEveryFixtureConversationIsExactWithGridsFromTheImageProcessor(JsonObject conv)
      throws Exception {
    // Same code path as `vlm prompt --messages FILE`, with the model loaded once for the six cases.
    // The fixture leaves
    // enable_thinking undefined except in c5 (false); with a generation prompt, true renders as
    // undefined does.
    ConversationInput in = ConversationInput.fromJsonFile(messagesFile(conv));
    JsonObject got =
        PromptCommand.promptJson(
            model,
            Fixtures.path("vlm-tiny/checkpoint"),
            in,
            true,
            conv.get("enable_thinking").isJsonNull());
    assertEquals(conv.get("prompt").getAsString(), got.get("prompt").getAsString());
    assertEquals(conv.get("input_ids"), got.get("input_ids"));
    assertEquals(conv.get("image_grids"), got.get("grids"));
  }

  @Test
  void vlmPromptOnTheCommandLinePrintsTheFixtureJsonAsItsLastLine() throws Exception {
    JsonObject c5 =
        conversations()
            .filter(c -> c.get("id").getAsString().startsWith("c5"))
            .findFirst()
            .orElseThrow();
    VlmRun r =
        VlmRun.of(
            "prompt",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--messages",
            messagesFile(c5).toString());
    assertEquals(0, r.code(), r.err());
    JsonObject got = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(c5.get("prompt").getAsString(), got.get("prompt").getAsString());
    assertEquals(c5.get("input_ids"), got.get("input_ids"));
    assertEquals(c5.get("image_grids"), got.get("grids"));
  }

  @Test
  void theShortFormIsOneUserTurnWithTheImagesThenTheQuestion() throws Exception {
    VlmRun r =
        VlmRun.of(
            "prompt",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--image",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            "Describe this image in detail.",
            "--enable-thinking");
    assertEquals(0, r.code(), r.err());
    JsonObject c1 = conversations().findFirst().orElseThrow();
    JsonObject got = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(c1.get("input_ids"), got.get("input_ids"));
  }

  @Test
  void theSeedDemoPromptIsReproducibleWithoutAGenerationPrompt() throws Exception {
    Path f = tmp.resolve("seed.json");
    Files.writeString(
        f,
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"简短回复问题.\"},"
            + "{\"type\":\"image\",\"path\":\""
            + Fixtures.path("vlm-tiny/images/a2_text_portrait.png")
            + "\"},"
            + "{\"type\":\"text\",\"text\":\"图片里有什么?\"}]}]");
    VlmRun r =
        VlmRun.of(
            "prompt",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--messages",
            f.toString(),
            "--no-add-generation-prompt");
    assertEquals(0, r.code(), r.err());
    String prompt =
        JsonParser.parseString(r.lastLine()).getAsJsonObject().get("prompt").getAsString();
    assertTrue(
        prompt.startsWith("<|im_start|>user\n简短回复问题.<vision_start><row_1_col_1><|image_pad|>"),
        prompt);
    assertTrue(prompt.endsWith("<vision_start>\n图片里有什么?<|im_end|>\n"), prompt);
  }

  @Test
  void mistakesAreOneLineErrorsWithExitCode2() throws Exception {
    String model = Fixtures.path("vlm-tiny/checkpoint").toString();
    Path bad = tmp.resolve("bad.json");
    Files.writeString(bad, "[{\"role\":\"robot\",\"content\":\"hi\"}]");
    VlmRun r = VlmRun.of("prompt", "--model", model, "--messages", bad.toString());
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: ") && r.err().contains("system, user and assistant"),
        r.err());
    Files.writeString(bad, "[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]");
    r = VlmRun.of("prompt", "--model", model, "--messages", bad.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("allowed types are text and image"), r.err());
    r = VlmRun.of("prompt", "--model", model, "--image", "/nonexistent.png", "q");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("not a readable file"), r.err());
    r = VlmRun.of("prompt", "--model", tmp.toString(), "q");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("chat template") || r.err().contains("chat_template"), r.err());
  }
}
