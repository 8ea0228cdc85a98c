package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Metadata;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import tandem.common.testing.ChatRequests;
import tandem.gateway.backend.Backends;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Role;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.limits.ClientLimiterTesting;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.limits.InputLimits;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.testing.SharedTokenizer;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.GenerationParams;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * A hostile client against the gateway (issue 15): every bound is checked before the costly step it
 * protects, each refusal has the expected status and names its limit and variable, and each comes
 * back within a time bound (a hang or a minute of work would fail the test, not just slow it down).
 */
class HostileInputTest extends InProcessTest {
  static final Duration FAST = Duration.ofSeconds(5);

  final AtomicLong clock = new AtomicLong();
  FakeBackends.Vision vision;
  FakeBackends.Decoder decoder;

  ChatServiceGrpc.ChatServiceBlockingStub gateway(
      GatewayLimits limits,
      boolean keyByToken,
      boolean endless,
      io.grpc.BindableService visionService)
      throws Exception {
    GatewayModel model = new GatewayModel(SharedTokenizer.get(), 64, 151655);
    vision = new FakeBackends.Vision(List.of(new int[] {0, 0}), false);
    decoder = new FakeBackends.Decoder(new int[] {9707}, endless ? 20 : 0, -1, endless);
    String vn = serve(visionService != null ? visionService : vision);
    String dn = serve(decoder);
    ChatPipeline gw =
        Backends.of(channel(vn), "vision-svc", channel(dn), "decoder-svc").pipeline(model, limits);
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn)
            .addService(
                ServerInterceptors.intercept(
                    new ChatGrpcService(gw),
                    ClientLimiterTesting.withClock(limits, clock::get, keyByToken)))
            .build()
            .start());
    return ChatServiceGrpc.newBlockingStub(channel(gn)).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  ChatServiceGrpc.ChatServiceBlockingStub gateway(GatewayLimits limits) throws Exception {
    return gateway(limits, false, false, null);
  }

  static GatewayLimits open() {
    return GatewayLimits.unlimitedClients();
  }

  static ChatRequest ask(String text, int images) {
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    for (int i = 0; i < images; i++) {
      m.addContent(
          ContentPart.newBuilder()
              .setImage(ImagePart.newBuilder().setData(ByteString.copyFromUtf8("img" + i))));
    }
    m.addContent(ContentPart.newBuilder().setText(text));
    return ChatRequest.newBuilder().addMessages(m).build();
  }

  static ChatRequest withParams(GenerationParams.Builder p) {
    return ask("hi", 0).toBuilder().setParams(p).build();
  }

  static void drain(Iterator<ChatChunk> it) {
    it.forEachRemaining(c -> {});
  }

  /**
   * The call fails with {@code code} within {@link #FAST}, and its message names every one of
   * {@code names}.
   */
  static String refusedFast(Status.Code code, Executable call, String... names) {
    StatusRuntimeException e =
        assertTimeoutPreemptively(FAST, () -> assertThrows(StatusRuntimeException.class, call));
    assertEquals(code, e.getStatus().getCode(), e.toString());
    String d = e.getStatus().getDescription();
    for (String n : names) assertTrue(d != null && d.contains(n), "'" + n + "' missing in: " + d);
    return d;
  }

  static ChatServiceGrpc.ChatServiceBlockingStub as(
      ChatServiceGrpc.ChatServiceBlockingStub stub, String token) {
    Metadata h = new Metadata();
    h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  // ---- 1. budgets before work

  @Test
  void tooManyMessagesAreRefusedNamingTheLimit() throws Exception {
    var stub = gateway(open());
    ChatRequest.Builder r = ChatRequest.newBuilder();
    for (int i = 0; i <= GatewaySettings.MAX_MESSAGES.defaultValue(); i++) {
      r.addMessages(
          ChatMessage.newBuilder()
              .setRole("user")
              .addContent(ContentPart.newBuilder().setText("x")));
    }
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(r.build())),
        (GatewaySettings.MAX_MESSAGES.defaultValue() + 1) + " messages",
        GatewaySettings.MAX_MESSAGES.env());
  }

  @Test
  void twoHundredThousandOneCharacterPartsAreRefusedAtOnce() throws Exception {
    var stub = gateway(open());
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    for (int i = 0; i < 200_000; i++) m.addContent(ContentPart.newBuilder().setText("a"));
    ChatRequest r = ChatRequest.newBuilder().addMessages(m).build();
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(r)),
        "200000 parts",
        GatewaySettings.MAX_PARTS_PER_MESSAGE.env()
            + "="
            + GatewaySettings.MAX_PARTS_PER_MESSAGE.defaultValue());
    assertNull(vision.last.get(), "nothing reached vision-svc");
  }

  @Test
  void theTemplateIsLinearInTheNumberOfParts() {
    // the limit keeps parts few, but the template itself must not copy the prompt once per part (it
    // took seconds)
    List<Part> parts = new ArrayList<>();
    for (int i = 0; i < 200_000; i++) parts.add(Part.text("a"));
    var segments =
        assertTimeoutPreemptively(
            Duration.ofSeconds(2),
            () -> ChatTemplate.render(List.of(Message.ofParts(Role.USER, parts)), true, false));
    assertTrue(
        segments.stream()
            .anyMatch(
                s ->
                    s instanceof tandem.gateway.chat.Segment.Text t
                        && t.text().contains("a".repeat(200_000))));
  }

  @Test
  void aThirtyMegabyteTextIsRefusedByItsBytesBeforeTheTokenizerSeesIt() throws Exception {
    var stub = gateway(open());
    String d =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () -> drain(stub.chat(ask("word ".repeat(6_000_000), 0))),
            GatewaySettings.MAX_TEXT_BYTES.env()
                + "="
                + GatewaySettings.MAX_TEXT_BYTES.defaultValue());
    assertTrue(d.contains("bytes of text"), d);
  }

  @Test
  void aRequestAboveTheRequestByteLimitIsResourceExhaustedNamingIt() throws Exception {
    var stub =
        gateway(
            open()
                .withInput(
                    InputLimits.defaults().withMaxTextBytes(8 << 20).withMaxRequestBytes(1 << 20)));
    refusedFast(
        Status.Code.RESOURCE_EXHAUSTED,
        () -> drain(stub.chat(ask("x".repeat(2 << 20), 0))),
        GatewaySettings.MAX_REQUEST_BYTES.env() + "=" + (1 << 20));
  }

  @Test
  void textOverThePromptBudgetIsRefusedBeforeAnyImageIsSentToVision() throws Exception {
    var stub = gateway(new GatewayLimits(500, 100, 4, 0, 0, 0));
    // 3000 distinct words: far more than 500 tokens, well under the text-byte limit
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 3000; i++) sb.append("w").append(i).append(' ');
    String d =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () -> drain(stub.chat(ask(sb.toString(), 3))),
            "the limit is 500",
            GatewaySettings.MAX_PROMPT_TOKENS.env());
    assertTrue(d.matches("the prompt is \\d+ tokens.*"), d);
    assertNull(vision.last.get(), "no image was sent to vision-svc");
  }

  @Test
  void imagesThatCannotFitBesideTheTextAreRefusedBeforeVision() throws Exception {
    var stub = gateway(new GatewayLimits(200, 100, 8, 0, 0, 0));
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(ask("four pictures", 4))),
        "the limit is 200");
    assertNull(vision.last.get(), "four images need 256+ tokens: vision-svc was never asked");
  }

  @Test
  void theGatewayGivesVisionTheTokenBudgetTheTextLeavesAndReportsItsRefusal() throws Exception {
    // a vision-svc that, like the real one, refuses from the headers when the grids exceed
    // max_image_tokens
    AtomicReference<EmbedRequest> seen = new AtomicReference<>();
    var budgetVision =
        new VisionServiceGrpc.VisionServiceImplBase() {
          @Override
          public void embed(EmbedRequest req, StreamObserver<EmbedResponse> out) {
            seen.set(req);
            out.onError(
                Status.INVALID_ARGUMENT
                    .withDescription(
                        "the images need 1088 image tokens (4x4+1 tiles, 64 tokens "
                            + "per tile) but the caller's budget is "
                            + req.getMaxImageTokens()
                            + " (max_image_tokens)")
                    .asRuntimeException());
          }
        };
    var stub = gateway(new GatewayLimits(1000, 100, 4, 0, 0, 0), false, false, budgetVision);
    String d =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () -> drain(stub.chat(ask("what is this?", 1))),
            "the limit is 1000",
            GatewaySettings.MAX_PROMPT_TOKENS.env());
    assertTrue(d.matches("the prompt is \\d+ tokens or more.*"), d);
    int budget = seen.get().getMaxImageTokens();
    assertTrue(
        budget > 900 && budget < 1000, "budget = 1000 minus the text's tokens, got " + budget);
  }

  @Test
  void aMillionStopTokenIdsAreRefusedNamingTheLimit() throws Exception {
    var stub = gateway(open());
    GenerationParams.Builder p = GenerationParams.newBuilder();
    for (int i = 0; i < 1_000_000; i++) p.addStopTokenIds(i % 1000);
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(withParams(p))),
        "1000000 ids",
        GatewaySettings.MAX_STOP_TOKEN_IDS.env()
            + "="
            + GatewaySettings.MAX_STOP_TOKEN_IDS.defaultValue());
    assertNull(decoder.last.get());
  }

  @Test
  void aHugeNoRepeatNgramSizeIsRefusedNamingTheLimit() throws Exception {
    var stub = gateway(open());
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () ->
            drain(
                stub.chat(withParams(GenerationParams.newBuilder().setNoRepeatNgramSize(100_000)))),
        "no_repeat_ngram_size = 100000",
        GatewaySettings.MAX_NO_REPEAT_NGRAM_SIZE.env());
    drain(
        stub.chat(
            withParams(
                GenerationParams.newBuilder().setNoRepeatNgramSize(2)))); // the demo's value passes
  }

  @Test
  void everyOtherGenerationParameterIsBoundedToItsRange() throws Exception {
    var stub = gateway(open());
    List<GenerationParams.Builder> bad =
        List.of(
            GenerationParams.newBuilder().setMinNewTokens(-1),
            GenerationParams.newBuilder()
                .setMinNewTokens(GatewaySettings.MAX_NEW_TOKENS.defaultValue() + 1),
            GenerationParams.newBuilder().setTemperature(Float.NaN),
            GenerationParams.newBuilder().setTemperature(1e9f),
            GenerationParams.newBuilder().setTopP(0),
            GenerationParams.newBuilder().setTopP(2),
            GenerationParams.newBuilder().setTopK(-5),
            GenerationParams.newBuilder().setRepetitionPenalty(Float.POSITIVE_INFINITY),
            GenerationParams.newBuilder().addStopTokenIds(-1));
    for (GenerationParams.Builder p : bad) {
      String d =
          refusedFast(
              Status.Code.INVALID_ARGUMENT, () -> drain(stub.chat(withParams(p))), "params.");
      assertFalse(d.isBlank());
    }
    assertNull(decoder.last.get(), "no bad parameter reached decoder-svc");
  }

  @Test
  void aMegabyteRequestIdOrOneWithControlCharactersIsRefused() throws Exception {
    var stub = gateway(open());
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(ask("hi", 0).toBuilder().setRequestId("r".repeat(1 << 20)).build())),
        "request_id is 1048576 characters",
        GatewaySettings.MAX_ID_BYTES.env());
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () ->
            drain(stub.chat(ask("hi", 0).toBuilder().setRequestId("ok\n[FAKE] log line").build())),
        "request_id has a character that is not printable ASCII");
    drain(stub.chat(ask("hi", 0).toBuilder().setRequestId("req-123_abc:7").build()));
  }

  @Test
  void aMegabyteImageIdIsRefused() throws Exception {
    var stub = gateway(open());
    ChatRequest r =
        ChatRequests.userWithImage(ImagePart.newBuilder().setImageId("i".repeat(1 << 20)), "?")
            .build();
    refusedFast(
        Status.Code.INVALID_ARGUMENT,
        () -> drain(stub.chat(r)),
        "image_id is 1048576 characters",
        GatewaySettings.MAX_ID_BYTES.env());
    assertNull(vision.last.get());
  }

  // ---- 2. tenancy and admission

  @Test
  void imageIdsTravelInTheCallersScope() throws Exception {
    var stub = gateway(open(), true, false, null);
    drain(as(stub, "alice").chat(ask("a", 1)));
    String alice = vision.last.get().getClientScope();
    drain(as(stub, "bob").chat(ask("b", 1)));
    String bob = vision.last.get().getClientScope();
    assertTrue(alice.startsWith("token:") && bob.startsWith("token:"), alice + " " + bob);
    assertNotEquals(alice, bob, "two clients, two scopes");
    assertFalse(alice.contains("alice"), "the scope holds a digest, never the token");
  }

  @Test
  void withAuthOffAnInventedTokenPerCallDoesNotEscapeTheRateLimit() throws Exception {
    var stub = gateway(new GatewayLimits(4096, 100, 2, 0, 1, 3), false, false, null);
    int refused = 0;
    for (int i = 0; i < 10; i++) {
      try {
        drain(as(stub, "invented-" + i).chat(ask("hi", 0)));
      } catch (StatusRuntimeException e) {
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        refused++;
      }
    }
    assertEquals(7, refused, "one peer, one bucket of 3, whatever bearer values it invents");
    // a second later the bucket has one token again, and the connection (not the invented token) is
    // the id scope
    clock.addAndGet(1_000_000_000L);
    drain(as(stub, "x").chat(ask("hi", 1)));
    String scope = vision.last.get().getClientScope();
    assertTrue(scope.startsWith("conn:") && !scope.contains("x"), scope);
  }

  @Test
  void theGlobalStreamCapStandsAboveThePerClientOnes() throws Exception {
    var stub =
        gateway(
            new GatewayLimits(4096, 100, 2, 5, 0, 0).withMaxConcurrentStreams(2), true, true, null);
    Iterator<ChatChunk> a = as(stub, "a").chat(ask("one", 0));
    Iterator<ChatChunk> b = as(stub, "b").chat(ask("two", 0));
    a.next();
    b.next();
    refusedFast(
        Status.Code.RESOURCE_EXHAUSTED,
        () -> as(stub, "c").chat(ask("three", 0)).next(),
        "2 concurrent streams over all clients",
        GatewaySettings.MAX_CONCURRENT_STREAMS.env() + "=2");
  }

  // ---- 3. faults

  @Test
  void backendCallsGetTheDefaultDeadlineWhenTheClientSetsNone() throws Exception {
    var hanging = new FakeBackends.Vision(List.of(new int[] {0, 0}), true);
    var stub = gateway(open().withBackendDeadlineSeconds(1), false, false, hanging);
    var noDeadline = ChatServiceGrpc.newBlockingStub(channels.get(channels.size() - 1));
    refusedFast(
        Status.Code.DEADLINE_EXCEEDED,
        () -> drain(noDeadline.chat(ask("look", 1))),
        GatewaySettings.BACKEND_DEADLINE_SECONDS.env() + "=1");
    assertTrue(hanging.cancelled.await(5, TimeUnit.SECONDS), "vision-svc saw its call end");
  }
}
