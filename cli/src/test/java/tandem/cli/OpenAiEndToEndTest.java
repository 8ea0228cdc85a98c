package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.Fixtures;
import tandem.common.testing.NodeScripts;
import tandem.common.testing.RawHttp;
import tandem.common.testing.TinyCheckpoints;
import tandem.gateway.http.HttpSettings;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.GenerationParams;

/**
 * The all-in-one server (tiny random checkpoint, real vision-svc and decoder-svc) behind both front
 * doors: the official {@code openai} npm client gets exactly the text and token count gRPC {@code
 * Chat} gives for the same greedy request, and a client that hangs up mid-stream frees its decoder
 * sequence.
 */
class OpenAiEndToEndTest {
  static final String QUESTION = "Describe this image.";
  static final int MAX_TOKENS = 24;
  private static AllInOne server;
  private static ManagedChannel channel;

  @BeforeAll
  static void start() throws Exception {
    String name = "openai-" + UUID.randomUUID();
    server =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            Map.of("TANDEM_DECODER_MAX_BATCH", "2", "TANDEM_DECODER_MAX_SEQ_LEN", "2048"),
            InProcessServerBuilder.forName(name),
            Telemetry.noop(),
            AllInOne.DEFAULT_DECODER_MODEL,
            HttpSettings.onPort(0));
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterAll
  static void stop() {
    if (channel != null) channel.shutdownNow();
    if (server != null) server.close();
  }

  static Path image() {
    return Fixtures.path("vlm-tiny/images/a1_coffee.png");
  }

  @Test
  void theOpenAiClientGetsExactlyWhatGrpcChatGivesForTheSameGreedyRequest() throws Exception {
    // gRPC: image then question, temperature 0, the same max tokens; everything else left to the
    // checkpoint
    ChatRequest req =
        ChatRequests.userWithImage(
                ImagePart.newBuilder().setData(ByteString.copyFrom(Files.readAllBytes(image()))),
                QUESTION)
            .setParams(GenerationParams.newBuilder().setTemperature(0).setMaxNewTokens(MAX_TOKENS))
            .build();
    StringBuilder grpcText = new StringBuilder();
    ChatChunk last = null;
    for (Iterator<ChatChunk> it = ChatServiceGrpc.newBlockingStub(channel).chat(req);
        it.hasNext(); ) {
      last = it.next();
      if (last.hasDelta()) grpcText.append(last.getDelta());
    }
    assertTrue(last != null && last.hasFinal());
    int grpcTokens = last.getFinal().getUsage().getCompletionTokens();
    assertTrue(grpcTokens > 0 && !grpcText.isEmpty(), "the tiny model answered something: " + last);

    NodeScripts.Result r =
        WebTests.node(
            240,
            "openai-chat.mjs",
            "http://127.0.0.1:" + server.httpPort() + "/v1",
            image().toString(),
            QUESTION,
            String.valueOf(MAX_TOKENS));
    assertEquals(0, r.exitCode(), r.output());
    JsonObject out = WebTests.json(r);
    JsonObject stream = out.getAsJsonObject("stream");
    assertEquals(grpcText.toString(), stream.get("text").getAsString());
    assertEquals(grpcTokens, stream.get("completion_tokens").getAsInt());
    assertEquals(
        last.getFinal().getUsage().getPromptTokens(), stream.get("prompt_tokens").getAsInt());
    assertEquals(
        last.getFinal().getUsage().getCachedPromptTokens(), stream.get("cached_tokens").getAsInt());
    assertEquals(grpcFinish(last), stream.get("finish_reason").getAsString());
    assertTrue(stream.get("chunks").getAsInt() > 2, "the answer came in several chunks: " + stream);

    JsonObject whole = out.getAsJsonObject("whole");
    assertEquals(grpcText.toString(), whole.get("text").getAsString());
    assertEquals(grpcTokens, whole.get("completion_tokens").getAsInt());

    JsonObject bad = out.getAsJsonObject("bad");
    assertEquals(400, bad.get("status").getAsInt(), bad.toString());
    assertEquals("invalid_request_error", bad.get("type").getAsString());
    assertTrue(bad.get("message").getAsString().contains("n = 1"), bad.toString());
  }

  static String grpcFinish(ChatChunk last) {
    return switch (last.getFinal().getFinishReason()) {
      case FINISH_REASON_STOP -> "stop";
      case FINISH_REASON_LENGTH -> "length";
      default -> last.getFinal().getFinishReason().toString();
    };
  }

  static void waitFor(BooleanSupplier cond, String what) throws InterruptedException {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > until) throw new AssertionError("timed out waiting: " + what);
      Thread.sleep(20);
    }
  }

  @Test
  void anHttpClientThatHangsUpMidStreamFreesItsDecoderSequence() throws Exception {
    String png = Base64.getEncoder().encodeToString(Files.readAllBytes(image()));
    // min_tokens keeps the answer from ending early: only the hang-up can end it
    byte[] body =
        ("{\"stream\":true,\"max_tokens\":1500,\"min_tokens\":1500,\"temperature\":0,\"messages\":[{\"role\":"
             + "\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
                + png
                + "\"}},{\"type\":\"text\",\"text\":\"count to a thousand\"}]}]}")
            .getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
      RawHttp.postJson(s, "/v1/chat/completions", body);
      InputStream in = s.getInputStream();
      StringBuilder seen = new StringBuilder();
      byte[] buf = new byte[8192];
      while (count(seen) < 3) { // the role chunk and two pieces of answer
        int n = in.read(buf);
        assertTrue(n > 0, "the stream ended before any text: " + seen);
        seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
      }
      assertTrue(seen.toString().startsWith("HTTP/1.1 200"), seen.toString());
      assertEquals(
          1,
          server.decoder().metrics().activeSequences(),
          "the answer is streaming: a sequence holds a slot");
    } // hang up
    waitFor(
        () -> server.decoder().metrics().activeSequences() == 0,
        "active sequences back to 0 after the hang-up");
    waitFor(() -> server.http().activeRequests() == 0, "the HTTP request ended");
    assertEquals(0, server.openStreams(), "its admission was released");
  }

  private static int count(StringBuilder s) {
    int n = 0;
    for (int i = s.indexOf("data: "); i >= 0; i = s.indexOf("data: ", i + 1)) n++;
    return n;
  }
}
