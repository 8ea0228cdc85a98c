package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * The whole system in one process on the regenerated vlm-tiny checkpoint: image bytes → vision-svc
 * (decode, tiles, SigLIP, connector) → gateway (template, tokenizer, expansion, splice) →
 * decoder-svc (prefill, KV-cache decode, processors) → Chat stream. Every conversation of the
 * fixture must give exactly the reference's token ids with the seed's generation settings (numpy
 * float64 reference, independent of this code).
 */
class AllInOneChatTest {
  private static AllInOne server;
  private static ManagedChannel channel;
  private static JsonObject prompts;
  private static JsonObject references;

  @BeforeAll
  static void start() throws Exception {
    Path model = TinyCheckpoints.vlmTiny();
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_DECODER_MAX_BATCH", "2");
    env.put("TANDEM_DECODER_MAX_SEQ_LEN", "1024");
    String name = "e2e-" + UUID.randomUUID();
    server =
        AllInOne.start(model, "cpu", env, InProcessServerBuilder.forName(name), Telemetry.noop());
    channel = InProcessChannelBuilder.forName(name).maxInboundMessageSize(64 << 20).build();
    prompts =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    references =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/references.json")))
            .getAsJsonObject();
  }

  @AfterAll
  static void stop() {
    if (channel != null) channel.shutdownNow();
    if (server != null) server.close();
  }

  static Stream<String> conversations() throws IOException {
    JsonObject p =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    List<String> ids = new ArrayList<>();
    for (JsonElement c : p.getAsJsonArray("conversations"))
      ids.add(c.getAsJsonObject().get("id").getAsString());
    return ids.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("conversations")
  void aChatGivesTheReferenceIdsWithTheSeedSettings(String id) throws IOException {
    JsonObject conv = conversation(id);
    JsonObject ref = references.getAsJsonObject("conversations").getAsJsonObject(id);
    JsonObject settings = references.getAsJsonObject("generation_settings");

    ChatRequest.Builder req = ChatRequest.newBuilder().setRequestId("e2e-" + id);
    for (JsonElement m : conv.getAsJsonArray("messages"))
      req.addMessages(message(m.getAsJsonObject()));
    // The fixture renders with enable_thinking undefined (null) or false; "undefined" renders like
    // true.
    JsonElement think = conv.get("enable_thinking");
    req.setEnableThinking(think == null || think.isJsonNull() || think.getAsBoolean());
    req.setParams(
        GenerationParams.newBuilder()
            .setMaxNewTokens(settings.get("max_new_tokens").getAsInt())
            .setMinNewTokens(settings.get("min_new_tokens").getAsInt())
            .setNoRepeatNgramSize(settings.get("no_repeat_ngram_size").getAsInt())
            .setTemperature(0f)
            .addStopTokenIds(settings.getAsJsonArray("eos_token_id").get(0).getAsInt()));

    ChatFinal fin = null;
    Iterator<ChatChunk> it = ChatServiceGrpc.newBlockingStub(channel).chat(req.build());
    while (it.hasNext()) {
      ChatChunk c = it.next();
      if (c.hasFinal()) fin = c.getFinal();
    }
    assertNotNull(fin, "the stream ended without a final chunk");
    assertEquals("", fin.getError());
    List<Integer> expected = new ArrayList<>();
    for (JsonElement e : ref.getAsJsonArray("greedy_processed_ids")) expected.add(e.getAsInt());
    assertEquals(expected, fin.getCompletionIdsList(), "generated ids of " + id);
    boolean stopped = ref.get("greedy_processed_stopped_on_eos").getAsBoolean();
    assertEquals(
        stopped ? FinishReason.FINISH_REASON_STOP : FinishReason.FINISH_REASON_LENGTH,
        fin.getFinishReason());
    assertEquals(conv.get("n_tokens").getAsInt(), fin.getUsage().getPromptTokens());
    assertEquals(conv.get("n_image_pad_tokens").getAsInt(), fin.getUsage().getImageTokens());
    assertEquals(expected.size(), fin.getUsage().getCompletionTokens());
    assertTrue(fin.getTimings().getTotalMs() > 0);
  }

  private static JsonObject conversation(String id) {
    for (JsonElement c : prompts.getAsJsonArray("conversations")) {
      if (c.getAsJsonObject().get("id").getAsString().equals(id)) return c.getAsJsonObject();
    }
    throw new IllegalArgumentException(id);
  }

  private static ChatMessage message(JsonObject m) throws IOException {
    ChatMessage.Builder b = ChatMessage.newBuilder().setRole(m.get("role").getAsString());
    JsonElement content = m.get("content");
    if (content.isJsonPrimitive()) {
      b.addContent(ContentPart.newBuilder().setText(content.getAsString()));
      return b.build();
    }
    JsonArray parts = content.getAsJsonArray();
    for (JsonElement pe : parts) {
      JsonObject p = pe.getAsJsonObject();
      if (p.get("type").getAsString().equals("image")) {
        byte[] bytes = Files.readAllBytes(imageFile(p.get("image").getAsString()));
        b.addContent(
            ContentPart.newBuilder()
                .setImage(ImagePart.newBuilder().setData(ByteString.copyFrom(bytes))));
      } else {
        b.addContent(ContentPart.newBuilder().setText(p.get("text").getAsString()));
      }
    }
    return b.build();
  }

  private static Path imageFile(String name) throws IOException {
    try (var files = Files.list(Fixtures.path("vlm-tiny/images"))) {
      return files
          .filter(f -> f.getFileName().toString().startsWith(name + "."))
          .findFirst()
          .orElseThrow(() -> new IOException("no image " + name));
    }
  }
}
