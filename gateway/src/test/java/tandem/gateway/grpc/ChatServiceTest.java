package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.gateway.backend.Backends;
import tandem.gateway.chat.ThinkBlockStripper;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.testing.SharedTokenizer;
import tandem.gateway.tokenize.QwenTokenizer;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/** The Chat service end to end over in-process gRPC, with fake vision-svc and decoder-svc. */
class ChatServiceTest extends InProcessTest {
  static QwenTokenizer tok;
  static GatewayModel model;

  @BeforeAll
  static void load() {
    tok = SharedTokenizer.get();
    model = new GatewayModel(tok, 64, 151655);
  }

  /** Starts a gateway over the given backends (a null backend is a name nobody serves: down). */
  ChatServiceGrpc.ChatServiceBlockingStub gateway(FakeBackends.Vision v, FakeBackends.Decoder d)
      throws Exception {
    String vn = v == null ? "nobody-" + InProcessServerBuilder.generateName() : serve(v);
    String dn = d == null ? "nobody-" + InProcessServerBuilder.generateName() : serve(d);
    ChatPipeline gw =
        Backends.of(channel(vn), "vision-svc (" + vn + ")", channel(dn), "decoder-svc (" + dn + ")")
            .pipeline(model);
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn).addService(new ChatGrpcService(gw)).build().start());
    return ChatServiceGrpc.newBlockingStub(channel(gn));
  }

  static ChatMessage user(ContentPart... parts) {
    return ChatMessage.newBuilder().setRole("user").addAllContent(List.of(parts)).build();
  }

  static ContentPart text(String s) {
    return ContentPart.newBuilder().setText(s).build();
  }

  static ContentPart image() {
    return ContentPart.newBuilder()
        .setImage(ImagePart.newBuilder().setData(ByteString.copyFromUtf8("png bytes")))
        .build();
  }

  static List<ChatChunk> drain(Iterator<ChatChunk> it) {
    List<ChatChunk> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  static String text(List<ChatChunk> chunks) {
    StringBuilder sb = new StringBuilder();
    for (ChatChunk c : chunks) if (c.hasDelta()) sb.append(c.getDelta());
    return sb.toString();
  }

  @Test
  void theStreamedTextEqualsTheDetokenizedIdsAndBoxesArriveAsTheirOwnChunks() throws Exception {
    String answer =
        "<think>\n\n"
            + "</think>\n\n"
            + "图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>。<|im_end|>";
    int[] ids = tok.encodeReference(answer); // as a model emits them: <think> etc. as single ids
    var d = new FakeBackends.Decoder(ids, 0, -1, false);
    var stub = gateway(new FakeBackends.Vision(List.of(new int[] {0, 0}), false), d);
    ChatRequest req =
        ChatRequest.newBuilder()
            .addMessages(user(image(), text("检测图片中的苹果")))
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(50).setTemperature(0))
            .build();
    List<ChatChunk> chunks = drain(stub.chat(req));

    assertEquals(ThinkBlockStripper.strip(tok.decodeReference(ids, true)), text(chunks));
    assertEquals("图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>。", text(chunks));
    for (ChatChunk c : chunks) if (c.hasDelta()) assertFalse(c.getDelta().contains("\uFFFD"));

    List<ChatChunk> boxes = chunks.stream().filter(ChatChunk::hasBox).toList();
    assertEquals(1, boxes.size());
    var box = boxes.get(0).getBox();
    assertTrue(box.getParsed());
    assertEquals("苹果", box.getLabel());
    assertEquals(List.of(100.0, 250.0, 500.0, 1000.0), box.getNormList());
    assertEquals(List.of(60.0, 100.0, 300.0, 400.0), box.getPixelsList()); // per-mille of 600x400
    // The box chunk follows the delta that closed its span.
    int boxAt = chunks.indexOf(boxes.get(0));
    assertTrue(text(chunks.subList(0, boxAt)).endsWith("</box>"), text(chunks.subList(0, boxAt)));

    ChatChunk last = chunks.get(chunks.size() - 1);
    assertTrue(last.hasFinal());
    var fin = last.getFinal();
    assertEquals(FinishReason.FINISH_REASON_STOP, fin.getFinishReason());
    var gen = d.last.get();
    assertEquals(gen.getInputIdsCount(), fin.getUsage().getPromptTokens());
    assertEquals(64, fin.getUsage().getImageTokens());
    assertEquals(ids.length, fin.getUsage().getCompletionTokens());
    assertArrayEquals(
        ids, fin.getCompletionIdsList().stream().mapToInt(Integer::intValue).toArray());
    assertTrue(fin.getTimings().getVisionCacheHit());
    assertEquals(1.5, fin.getTimings().getPreprocessMs());
    assertEquals(2.5, fin.getTimings().getVisionMs());
    assertEquals(12, fin.getTimings().getPrefillMs());
    assertEquals(34, fin.getTimings().getDecodeMs());
    assertTrue(fin.getTimings().getTimeToFirstTokenMs() > 0);
    assertTrue(fin.getTimings().getTotalMs() >= fin.getTimings().getTimeToFirstTokenMs());
    // What went to the decoder: params passed through, one embedding block, the default
    // enable_thinking=false prompt.
    assertEquals(50, gen.getParams().getMaxNewTokens());
    assertEquals(1, gen.getImageEmbeddingsCount());
    assertEquals(151655, gen.getImageTokenId());
    String prompt =
        tok.decode(gen.getInputIdsList().stream().mapToInt(Integer::intValue).toArray(), false);
    assertTrue(
        prompt.endsWith("检测图片中的苹果<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"),
        prompt);
    chunks.forEach(c -> assertEquals(gen.getRequestId(), c.getRequestId()));
  }

  @Test
  void theDecoderGetsExactlyTheFixtureInputIdsForAFixtureConversation() throws Exception {
    JsonObject c1 =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject()
            .getAsJsonArray("conversations")
            .get(0)
            .getAsJsonObject();
    assertEquals("c1_en_describe", c1.get("id").getAsString());
    var d = new FakeBackends.Decoder(new int[] {9707, 151645}, 0, -1, false);
    var stub = gateway(new FakeBackends.Vision(List.of(new int[] {2, 3}), false), d);
    ChatRequest req =
        ChatRequest.newBuilder()
            .addMessages(user(image(), text("Describe this image in detail.")))
            .setEnableThinking(
                true) // the fixture leaves enable_thinking undefined: no think block either way
            .build();
    List<ChatChunk> chunks = drain(stub.chat(req));
    var expected = c1.getAsJsonArray("input_ids");
    int[] want = new int[expected.size()];
    for (int i = 0; i < want.length; i++) want[i] = expected.get(i).getAsInt();
    assertArrayEquals(
        want, d.last.get().getInputIdsList().stream().mapToInt(Integer::intValue).toArray());
    assertEquals("Hello", text(chunks));
    assertEquals(448, chunks.get(chunks.size() - 1).getFinal().getUsage().getImageTokens());
  }

  @Test
  void aVisionBackendThatIsDownGivesUnavailableNamingItWithinTheDeadline() throws Exception {
    var stub = gateway(null, new FakeBackends.Decoder(new int[] {1}, 0, -1, false));
    long t = System.nanoTime();
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                drain(
                    stub.withDeadlineAfter(5, TimeUnit.SECONDS)
                        .chat(
                            ChatRequest.newBuilder()
                                .addMessages(user(image(), text("q")))
                                .build())));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("vision-svc"), e.getStatus().getDescription());
    assertTrue((System.nanoTime() - t) / 1e9 < 5);
  }

  @Test
  void aDecoderBackendThatIsDownGivesUnavailableNamingIt() throws Exception {
    var stub = gateway(new FakeBackends.Vision(List.of(new int[] {0, 0}), false), null);
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                drain(
                    stub.withDeadlineAfter(5, TimeUnit.SECONDS)
                        .chat(ChatRequest.newBuilder().addMessages(user(text("hi"))).build())));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("decoder-svc"), e.getStatus().getDescription());
  }

  @Test
  void aDecoderThatDiesMidStreamGivesAnErrorChunkNotAHang() throws Exception {
    int[] ids = tok.encodeText("one two three four five");
    var stub = gateway(null, new FakeBackends.Decoder(ids, 0, 3, false));
    List<ChatChunk> chunks =
        drain(
            stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                .chat(ChatRequest.newBuilder().addMessages(user(text("hi"))).build()));
    assertEquals("one two three", text(chunks));
    var fin = chunks.get(chunks.size() - 1).getFinal();
    assertEquals(FinishReason.FINISH_REASON_ERROR, fin.getFinishReason());
    assertTrue(
        fin.getError().contains("decoder-svc") && fin.getError().contains("decoder crashed"),
        fin.getError());
    assertEquals(3, fin.getUsage().getCompletionTokens());
  }

  @Test
  void aDecoderServerShutDownMidStreamEndsTheChatWithAnErrorChunk() throws Exception {
    var d = new FakeBackends.Decoder(tok.encodeText("la"), 20, -1, true);
    String dn = serve(d);
    Server decoderServer = servers.get(servers.size() - 1);
    ChatPipeline gw =
        Backends.of(channel("nobody"), "vision-svc", channel(dn), "decoder-svc (" + dn + ")")
            .pipeline(model);
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn).addService(new ChatGrpcService(gw)).build().start());
    var it =
        ChatServiceGrpc.newBlockingStub(channel(gn))
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .chat(ChatRequest.newBuilder().addMessages(user(text("sing"))).build());
    assertTrue(it.next().hasDelta());
    decoderServer.shutdownNow();
    List<ChatChunk> rest = drain(it);
    var fin = rest.get(rest.size() - 1).getFinal();
    assertEquals(FinishReason.FINISH_REASON_ERROR, fin.getFinishReason());
    assertTrue(fin.getError().contains("decoder-svc"), fin.getError());
  }

  @Test
  void aClientCancelPropagatesToTheDecoder() throws Exception {
    var d = new FakeBackends.Decoder(tok.encodeText("la"), 10, -1, true);
    gateway(new FakeBackends.Vision(List.of(new int[] {0, 0}), false), d);
    // Re-use the gateway channel via an async stub: cancel after the first delta.
    var async = ChatServiceGrpc.newStub(channels.get(channels.size() - 1));
    CountDownLatch first = new CountDownLatch(1);
    ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
    async.chat(
        ChatRequest.newBuilder().addMessages(user(text("sing forever"))).build(),
        new ClientResponseObserver<ChatRequest, ChatChunk>() {
          public void beforeStart(ClientCallStreamObserver<ChatRequest> s) {
            call[0] = s;
          }

          public void onNext(ChatChunk c) {
            first.countDown();
          }

          public void onError(Throwable t) {}

          public void onCompleted() {}
        });
    assertTrue(first.await(10, TimeUnit.SECONDS));
    call[0].cancel("user pressed ctrl-c", null);
    assertTrue(d.cancelled.await(5, TimeUnit.SECONDS), "decoder-svc saw the cancel");
  }

  /**
   * gRPC cancels a call's Context before it runs the call's cancel handler, and the decoder call (a
   * child Context) sees that cancel at once. Here the handler never runs at all: the chat must
   * still end as cancelled, not take the decoder call's CANCELLED error for a decoder failure and
   * send the client a final chunk with reason ERROR.
   */
  @Test
  void aCancelledCallContextEndsTheChatAsCancelledBeforeTheDecoderCallsErrorArrives()
      throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    try (Telemetry tel = Telemetry.of(tracing(spans))) {
      var d = new FakeBackends.Decoder(tok.encodeText("la"), 10, -1, true);
      String dn = serve(d);
      ChatPipeline gw =
          Backends.of(channel("nobody"), "vision-svc", channel(dn), "decoder-svc")
              .pipeline(
                  model,
                  tandem.gateway.limits.GatewayLimits.defaults(),
                  tandem.gateway.telemetry.ChatTelemetry.create(tel, "vlm-test"));
      List<ChatChunk> got = java.util.Collections.synchronizedList(new ArrayList<>());
      CountDownLatch first = new CountDownLatch(1);
      CountDownLatch ended = new CountDownLatch(1);
      Runnable[] handler = new Runnable[1];
      var out =
          new io.grpc.stub.ServerCallStreamObserver<ChatChunk>() {
            @Override
            public void onNext(ChatChunk c) {
              got.add(c);
              first.countDown();
            }

            @Override
            public void onError(Throwable t) {
              ended.countDown();
            }

            @Override
            public void onCompleted() {
              ended.countDown();
            }

            @Override
            public boolean isCancelled() {
              return false;
            }

            @Override
            public void setOnCancelHandler(Runnable r) {
              handler[0] = r; // kept, never run: the Context's cancel must be enough
            }

            @Override
            public void setCompression(String c) {}

            @Override
            public boolean isReady() {
              return true;
            }

            @Override
            public void setOnReadyHandler(Runnable r) {}

            @Override
            public void disableAutoInboundFlowControl() {}

            @Override
            public void request(int n) {}

            @Override
            public void setMessageCompression(boolean e) {}
          };
      io.grpc.Context.CancellableContext call = io.grpc.Context.current().withCancellation();
      call.run(
          () ->
              new ChatGrpcService(gw)
                  .chat(
                      ChatRequest.newBuilder().addMessages(user(text("sing forever"))).build(),
                      out));
      assertTrue(first.await(10, TimeUnit.SECONDS), "the first delta");
      call.cancel(null);
      assertTrue(d.cancelled.await(5, TimeUnit.SECONDS), "decoder-svc saw the cancel");
      // the decoder call's error reaches the gateway within milliseconds; give it ample time
      assertFalse(ended.await(1, TimeUnit.SECONDS), "nothing ends the client's stream: " + got);
      assertTrue(got.stream().noneMatch(ChatChunk::hasFinal), got.toString());
      var chat =
          spans.getFinishedSpanItems().stream().filter(x -> x.getName().equals("chat")).toList();
      assertEquals(1, chat.size(), spans.getFinishedSpanItems().toString());
      assertEquals(
          List.of("cancelled"),
          chat.get(0)
              .getAttributes()
              .get(
                  io.opentelemetry.api.common.AttributeKey.stringArrayKey(
                      "gen_ai.response.finish_reasons")));
      assertTrue(handler[0] != null, "the gRPC cancel handler is still set");
    }
  }

  @Test
  void theClientDeadlinePropagatesToVision() throws Exception {
    var v = new FakeBackends.Vision(List.of(new int[] {0, 0}), true);
    var stub = gateway(v, new FakeBackends.Decoder(new int[] {1}, 0, -1, false));
    long t = System.nanoTime();
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                drain(
                    stub.withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                        .chat(
                            ChatRequest.newBuilder()
                                .addMessages(user(image(), text("q")))
                                .build())));
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    assertTrue(
        v.cancelled.await(5, TimeUnit.SECONDS), "vision-svc's call was cancelled by the deadline");
    assertTrue((System.nanoTime() - t) / 1e9 < 5);
  }

  @Test
  void badRequestsAreInvalidArgumentSayingWhatIsAllowed() throws Exception {
    var stub = gateway(null, null);
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                drain(
                    stub.chat(
                        ChatRequest.newBuilder()
                            .addMessages(
                                ChatMessage.newBuilder().setRole("tool").addContent(text("x")))
                            .build())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("system, user and assistant"),
        e.getStatus().getDescription());
    e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                drain(
                    stub.chat(
                        ChatRequest.newBuilder()
                            .addMessages(
                                user(
                                    ContentPart.newBuilder()
                                        .setImage(ImagePart.getDefaultInstance())
                                        .build()))
                            .build())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("data or an image_id"),
        e.getStatus().getDescription());
    e =
        assertThrows(
            StatusRuntimeException.class, () -> drain(stub.chat(ChatRequest.getDefaultInstance())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
  }

  /** An SDK that exports every ended span to {@code spans} at once and propagates W3C context. */
  static OpenTelemetrySdk tracing(InMemorySpanExporter spans) {
    return OpenTelemetrySdk.builder()
        .setTracerProvider(
            SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(spans)).build())
        .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
        .build();
  }

  @Test
  void oneChatIsOneTraceAcrossTheGatewayAndTheDecoder() throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    try (Telemetry tel = Telemetry.of(tracing(spans))) {
      var d = new FakeBackends.Decoder(tok.encodeText("hi"), 0, -1, false);
      String dn = InProcessServerBuilder.generateName();
      servers.add(
          InProcessServerBuilder.forName(dn)
              .addService(ServerInterceptors.intercept(d, tel.serverInterceptor()))
              .build()
              .start());
      ManagedChannel dch =
          InProcessChannelBuilder.forName(dn).intercept(tel.clientInterceptor()).build();
      channels.add(dch);
      ChatPipeline gw =
          Backends.of(channel("nobody"), "vision-svc", dch, "decoder-svc").pipeline(model);
      String gn = InProcessServerBuilder.generateName();
      servers.add(
          InProcessServerBuilder.forName(gn)
              .addService(
                  ServerInterceptors.intercept(new ChatGrpcService(gw), tel.serverInterceptor()))
              .build()
              .start());
      List<ChatChunk> chunks =
          drain(
              ChatServiceGrpc.newBlockingStub(channel(gn))
                  .chat(ChatRequest.newBuilder().addMessages(user(text("hi"))).build()));
      String traceId = chunks.get(chunks.size() - 1).getFinal().getTraceId();
      assertFalse(traceId.isEmpty());
      assertEquals(traceId, d.traceId.get(), "decoder-svc's server span is in the chat's trace");
      long deadline = System.nanoTime() + 5_000_000_000L;
      long inTrace = 0;
      while (System.nanoTime() < deadline) {
        inTrace =
            spans.getFinishedSpanItems().stream()
                .filter(sp -> sp.getTraceId().equals(traceId))
                .count();
        if (inTrace >= 3) break;
        Thread.sleep(20);
      }
      assertTrue(
          inTrace >= 3,
          "gateway server, decoder client and decoder server spans: "
              + spans.getFinishedSpanItems());
    }
  }

  @Test
  void aStopStringEndsTheAnswerBeforeItFreesTheDecoderAndCountsTheIdsTaken() throws Exception {
    // endless: only the stop string can end this answer; the match spans tokens ("Box" / " 2")
    int[] ids = tok.encodeReference("Box 1. Box 2. Box 3. ");
    var d = new FakeBackends.Decoder(ids, 5, -1, true);
    var stub = gateway(null, d);
    List<ChatChunk> chunks =
        drain(
            stub.chat(
                ChatRequest.newBuilder()
                    .addMessages(user(text("count boxes")))
                    .addStop("x 2")
                    .addStop("never")
                    .build()));
    assertEquals("Box 1. Bo", text(chunks));
    ChatChunk last = chunks.get(chunks.size() - 1);
    assertEquals(FinishReason.FINISH_REASON_STOP, last.getFinal().getFinishReason());
    // the ids up to the one that completed "x 2", and the stream says so
    int taken = last.getFinal().getCompletionIdsCount();
    assertEquals(taken, last.getFinal().getUsage().getCompletionTokens());
    assertTrue(
        tok.decodeReference(
                last.getFinal().getCompletionIdsList().stream()
                    .mapToInt(Integer::intValue)
                    .toArray(),
                true)
            .endsWith(" 2"));
    assertTrue(
        d.cancelled.await(5, java.util.concurrent.TimeUnit.SECONDS),
        "the decoder call was cancelled");
  }

  @Test
  void stopStringsAreBounded() throws Exception {
    var stub = gateway(null, new FakeBackends.Decoder(tok.encodeText("hi"), 0, -1, false));
    ChatRequest.Builder r = ChatRequest.newBuilder().addMessages(user(text("hi")));
    for (int i = 0; i < 17; i++) r.addStop("s" + i);
    var e = assertThrows(io.grpc.StatusRuntimeException.class, () -> drain(stub.chat(r.build())));
    assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("TANDEM_GATEWAY_MAX_STOP_STRINGS=16"),
        e.getStatus().getDescription());
    var empty =
        assertThrows(
            io.grpc.StatusRuntimeException.class,
            () ->
                drain(
                    stub.chat(
                        ChatRequest.newBuilder()
                            .addMessages(user(text("hi")))
                            .addStop("")
                            .build())));
    assertTrue(
        empty.getStatus().getDescription().contains("empty"), empty.getStatus().getDescription());
  }
}
