package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.gateway.backend.Backends;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.limits.ClientLimiterTesting;
import tandem.gateway.limits.GatewayLimits;
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

/**
 * Every gateway limit refuses with the right status and a message naming the limit and its value.
 */
class LimitsTest extends InProcessTest {
  final AtomicLong clock = new AtomicLong();

  /**
   * A gateway over fake backends (endless slow decoder when {@code endless}) with these limits and
   * a fake clock.
   */
  ChatServiceGrpc.ChatServiceBlockingStub gateway(GatewayLimits limits, boolean endless)
      throws Exception {
    GatewayModel model = new GatewayModel(SharedTokenizer.get(), 64, 151655);
    String vn = serve(new FakeBackends.Vision(List.of(new int[] {0, 0}), false));
    String dn = serve(new FakeBackends.Decoder(new int[] {9707}, endless ? 20 : 0, -1, endless));
    ChatPipeline gw =
        Backends.of(channel(vn), "vision-svc", channel(dn), "decoder-svc").pipeline(model, limits);
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn)
            .addService(
                ServerInterceptors.intercept(
                    new ChatGrpcService(gw), ClientLimiterTesting.withClock(limits, clock::get)))
            .build()
            .start());
    return ChatServiceGrpc.newBlockingStub(channel(gn));
  }

  static GatewayLimits limits(
      int promptTokens, int newTokens, int images, int streams, double rate, int burst) {
    return new GatewayLimits(promptTokens, newTokens, images, streams, rate, burst);
  }

  static ChatRequest ask(String text, int images) {
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    for (int i = 0; i < images; i++) {
      ByteString data = ByteString.copyFromUtf8("img" + i);
      m.addContent(ContentPart.newBuilder().setImage(ImagePart.newBuilder().setData(data)));
    }
    m.addContent(ContentPart.newBuilder().setText(text));
    return ChatRequest.newBuilder().addMessages(m).build();
  }

  static StatusRuntimeException refused(Status.Code code, Runnable call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
    assertEquals(code, e.getStatus().getCode(), e.toString());
    return e;
  }

  static void drain(Iterator<ChatChunk> it) {
    it.forEachRemaining(c -> {});
  }

  static ChatServiceGrpc.ChatServiceBlockingStub as(
      ChatServiceGrpc.ChatServiceBlockingStub stub, String token) {
    Metadata h = new Metadata();
    h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  @Test
  void tooManyImagesIsResourceExhaustedNamingTheLimit() throws Exception {
    var stub = gateway(limits(4096, 100, 2, 0, 0, 0), false);
    drain(stub.chat(ask("two is fine", 2)));
    var e = refused(Status.Code.RESOURCE_EXHAUSTED, () -> drain(stub.chat(ask("three is not", 3))));
    assertTrue(
        e.getStatus().getDescription().contains("3 images; the limit is 2"),
        e.getStatus().getDescription());
  }

  @Test
  void maxNewTokensAboveTheCapOrNegativeIsInvalidArgumentNamingTheCap() throws Exception {
    var stub = gateway(limits(4096, 100, 2, 0, 0, 0), false);
    ChatRequest ok =
        ask("hi", 0).toBuilder()
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(100))
            .build();
    drain(stub.chat(ok));
    ChatRequest big =
        ok.toBuilder().setParams(GenerationParams.newBuilder().setMaxNewTokens(101)).build();
    var e = refused(Status.Code.INVALID_ARGUMENT, () -> drain(stub.chat(big)));
    assertTrue(
        e.getStatus().getDescription().contains("max_new_tokens = 101 is above the limit 100"),
        e.getStatus().getDescription());
    assertTrue(
        e.getStatus().getDescription().contains(GatewaySettings.MAX_NEW_TOKENS.env()),
        e.getStatus().getDescription());
    ChatRequest neg =
        ok.toBuilder().setParams(GenerationParams.newBuilder().setMaxNewTokens(-1)).build();
    refused(Status.Code.INVALID_ARGUMENT, () -> drain(stub.chat(neg)));
    // 0 asks for nothing: refused here, before vision-svc encodes anything (decoder-svc needs 1)
    ChatRequest none =
        ok.toBuilder().setParams(GenerationParams.newBuilder().setMaxNewTokens(0)).build();
    var z = refused(Status.Code.INVALID_ARGUMENT, () -> drain(stub.chat(none)));
    assertTrue(
        z.getStatus().getDescription().contains("allowed: 1..100"), z.getStatus().getDescription());
  }

  @Test
  void aPromptOverTheTokenLimitIsInvalidArgumentNamingTheLimitAndTheCount() throws Exception {
    // an image with grid 0x0 expands to 64 pads + 3 other tokens, so an image alone breaks a
    // 60-token limit
    var stub = gateway(limits(60, 100, 4, 0, 0, 0), false);
    drain(stub.chat(ask("a short question", 0)));
    var e = refused(Status.Code.INVALID_ARGUMENT, () -> drain(stub.chat(ask("what is this?", 1))));
    String d = e.getStatus().getDescription();
    assertTrue(
        d.contains("the limit is 60") && d.contains(GatewaySettings.MAX_PROMPT_TOKENS.env()), d);
    assertTrue(d.matches("the prompt is \\d+ tokens.*"), d);
  }

  @Test
  void concurrentStreamsPerClientAreCappedPerBearerTokenAndFreedWhenAStreamEnds() throws Exception {
    var stub = gateway(limits(4096, 100, 2, 2, 0, 0), true);
    var alice = as(stub, "alice-token");
    io.grpc.Context.CancellableContext first = io.grpc.Context.current().withCancellation();
    Iterator<ChatChunk> s1 = first.call(() -> alice.chat(ask("one", 0)));
    Iterator<ChatChunk> s2 = alice.chat(ask("two", 0));
    s1.next(); // both streams are open and streaming
    s2.next();
    var e = refused(Status.Code.RESOURCE_EXHAUSTED, () -> alice.chat(ask("three", 0)).next());
    assertTrue(
        e.getStatus().getDescription().contains("2 concurrent streams per client"),
        e.getStatus().getDescription());
    // another client is not affected
    as(stub, "bob-token").chat(ask("bob", 0)).next();
    // alice's slot comes back once one of her streams is cancelled (the server learns of it
    // asynchronously)
    first.cancel(null);
    long until = System.nanoTime() + 5_000_000_000L;
    while (true) {
      try {
        alice.chat(ask("three again", 0)).next();
        break;
      } catch (StatusRuntimeException again) {
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, again.getStatus().getCode());
        if (System.nanoTime() > until) throw again;
        Thread.sleep(20);
      }
    }
  }

  @Test
  void theRateLimitRefusesABurstBeyondItsSizeAndRefillsWithTime() throws Exception {
    var stub = gateway(limits(4096, 100, 2, 0, 1, 2), false);
    drain(stub.chat(ask("1", 0)));
    drain(stub.chat(ask("2", 0)));
    var e = refused(Status.Code.RESOURCE_EXHAUSTED, () -> drain(stub.chat(ask("3", 0))));
    assertTrue(
        e.getStatus()
            .getDescription()
            .contains("rate limit: 1 requests per second per client, burst 2"),
        e.getStatus().getDescription());
    clock.addAndGet(1_000_000_000L); // one second later: one more token
    drain(stub.chat(ask("4", 0)));
    refused(Status.Code.RESOURCE_EXHAUSTED, () -> drain(stub.chat(ask("5", 0))));
    // a different bearer token has its own bucket
    drain(as(stub, "other").chat(ask("6", 0)));
  }

  @Test
  void aRequestLargerThanTheMessageLimitIsResourceExhaustedNamingTheLimit() throws Exception {
    GatewayModel model = new GatewayModel(SharedTokenizer.get(), 64, 151655);
    ChatPipeline gw =
        Backends.of(channel("nobody-v"), "vision-svc", channel("nobody-d"), "decoder-svc")
            .pipeline(model);
    Server s =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .maxInboundMessageSize(64 << 10)
            .addService(new ChatGrpcService(gw))
            .build()
            .start();
    servers.add(s);
    ManagedChannel c =
        Grpc.newChannelBuilder("localhost:" + s.getPort(), InsecureChannelCredentials.create())
            .build();
    channels.add(c);
    var stub = ChatServiceGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS);
    var e =
        refused(
            Status.Code.RESOURCE_EXHAUSTED, () -> drain(stub.chat(ask("x".repeat(100 << 10), 0))));
    assertTrue(
        e.getStatus().getDescription().contains(String.valueOf(64 << 10)),
        e.getStatus().getDescription());
  }

  @Test
  void limitsComeFromTheEnvironmentAndBadValuesAreRefused() {
    var env =
        new Env(
            Map.of(
                GatewaySettings.MAX_NEW_TOKENS.env(),
                "7",
                GatewaySettings.RATE_PER_SECOND.env(),
                "2.5"));
    GatewayLimits l = GatewayLimits.from(GatewaySettings.resolve(env));
    assertEquals(7, l.maxNewTokens());
    assertEquals(2.5, l.ratePerSecond());
    var bad = new Env(Map.of(GatewaySettings.RATE_PER_SECOND.env(), "fast"));
    assertThrows(
        IllegalArgumentException.class, () -> GatewayLimits.from(GatewaySettings.resolve(bad)));
  }
}
