package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import tandem.common.config.CommonSettings;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.gateway.config.GatewaySettings;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.GenerationParams;

/**
 * The hostile client of issue 15 against the real all-in-one server (vlm-tiny, loopback port): what
 * it tried before the fix now fails fast with the right status, and no image is encoded for a
 * request that cannot fit.
 */
class HostileClientEndToEndTest {
  static AllInOne open;
  static AllInOne secured;
  static ManagedChannel openChannel;
  static ManagedChannel securedChannel;

  @BeforeAll
  static void start() throws Exception {
    open =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            Map.of(
                DecoderSettings.MAX_BATCH.env(),
                "2",
                DecoderSettings.MAX_SEQ_LEN.env(),
                "2048",
                GatewaySettings.MAX_PROMPT_TOKENS.env(),
                "1500"),
            Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()),
            Telemetry.noop());
    secured =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            Map.of(
                DecoderSettings.MAX_BATCH.env(),
                "2",
                DecoderSettings.MAX_SEQ_LEN.env(),
                "2048",
                CommonSettings.AUTH_TOKENS.env(),
                "alice-token,bob-token"),
            Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()),
            Telemetry.noop());
    openChannel =
        Grpc.newChannelBuilder("127.0.0.1:" + open.port(), InsecureChannelCredentials.create())
            .maxInboundMessageSize(64 << 20)
            .build();
    securedChannel =
        Grpc.newChannelBuilder("127.0.0.1:" + secured.port(), InsecureChannelCredentials.create())
            .build();
  }

  @AfterAll
  static void stop() {
    for (ManagedChannel c : new ManagedChannel[] {openChannel, securedChannel})
      if (c != null) c.shutdownNow();
    if (open != null) open.close();
    if (secured != null) secured.close();
  }

  static ChatServiceGrpc.ChatServiceBlockingStub stub(ManagedChannel c, String token) {
    var s = ChatServiceGrpc.newBlockingStub(c).withDeadlineAfter(60, TimeUnit.SECONDS);
    if (token == null) return s;
    Metadata h = new Metadata();
    h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  static byte[] png(int seed, int w, int h) throws Exception {
    var img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        img.setRGB(x, y, (x * 31 + y * 17 + seed * 101) * 2654435 & 0xffffff);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    javax.imageio.ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  static ContentPart image(byte[] data, String id) {
    ImagePart.Builder p = ImagePart.newBuilder().setImageId(id);
    if (data != null) p.setData(ByteString.copyFrom(data));
    return ContentPart.newBuilder().setImage(p).build();
  }

  static ChatRequest ask(String text, ContentPart... images) {
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    for (ContentPart p : images) m.addContent(p);
    m.addContent(ContentPart.newBuilder().setText(text));
    return ChatRequest.newBuilder()
        .addMessages(m)
        .setParams(GenerationParams.newBuilder().setMaxNewTokens(2).setTemperature(0))
        .build();
  }

  static StatusRuntimeException refusedFast(Status.Code code, Executable call) {
    StatusRuntimeException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(10), () -> assertThrows(StatusRuntimeException.class, call));
    assertEquals(code, e.getStatus().getCode(), e.toString());
    return e;
  }

  @Test
  void anOverBudgetMultiImageRequestIsRefusedBeforeAnyImageIsEncoded() throws Exception {
    long tilesBefore = open.vision().batcher().stats().tiles();
    ContentPart[] images = new ContentPart[8];
    for (int i = 0; i < images.length; i++) images[i] = image(png(100 + i, 900, 700), "");
    var e =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () -> stub(openChannel, null).chat(ask("describe them", images)).next());
    String d = e.getStatus().getDescription();
    assertTrue(
        d.contains("the limit is 1500") && d.contains(GatewaySettings.MAX_PROMPT_TOKENS.env()), d);
    assertEquals(
        tilesBefore, open.vision().batcher().stats().tiles(), "no tile was encoded for it");
  }

  @Test
  void aThirtyMegabyteTextPartIsRefusedInSeconds() {
    var e =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () -> stub(openChannel, null).chat(ask("x".repeat(30_000_000))).next());
    assertTrue(
        e.getStatus().getDescription().contains(GatewaySettings.MAX_TEXT_BYTES.env()),
        e.getStatus().getDescription());
  }

  @Test
  void inventingABearerValuePerCallDoesNotEscapeTheRateLimitWhenAuthIsOff() {
    int exhausted = 0;
    long t0 = System.nanoTime();
    for (int i = 0; i < 150; i++) {
      try {
        stub(openChannel, "made-up-" + i)
            .chat(ChatRequest.newBuilder().setRequestId("bad id " + i).build())
            .next();
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED) exhausted++;
        else assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
      }
    }
    // one peer has one bucket: at most the burst (40) plus what 20/s refilled meanwhile got through
    double seconds = (System.nanoTime() - t0) / 1e9;
    int admitted = 150 - exhausted;
    assertTrue(
        admitted <= 40 + Math.ceil(seconds * 20) + 1,
        admitted
            + " of 150 admitted in "
            + seconds
            + " s: invented bearer values escaped the per-client rate");
    assertTrue(exhausted > 0);
  }

  @Test
  void withAuthOffASecondClientOnTheSameHostCannotReadTheFirstOnesImageId() throws Exception {
    ManagedChannel other =
        Grpc.newChannelBuilder("127.0.0.1:" + open.port(), InsecureChannelCredentials.create())
            .build();
    try {
      stub(openChannel, null)
          .chat(ask("what is it?", image(png(9, 64, 48), "photo-1")))
          .forEachRemaining(c -> {});
      stub(openChannel, null)
          .chat(ask("again", image(null, "photo-1")))
          .forEachRemaining(c -> {}); // its own: fine
      var e =
          refusedFast(
              Status.Code.NOT_FOUND,
              () -> stub(other, "any-token").chat(ask("?", image(null, "photo-1"))).next());
      assertTrue(
          e.getStatus().getDescription().contains("not known"), e.getStatus().getDescription());
    } finally {
      other.shutdownNow();
    }
  }

  @Test
  void anotherClientsImageIdIsNotFoundLikeAnUnknownOneAndCarriesNoHash() throws Exception {
    stub(securedChannel, "alice-token")
        .chat(ask("what is it?", image(png(7, 64, 48), "cat")))
        .forEachRemaining(c -> {});
    // alice can use her id without bytes
    stub(securedChannel, "alice-token")
        .chat(ask("and now?", image(null, "cat")))
        .forEachRemaining(c -> {});
    var stolen =
        refusedFast(
            Status.Code.NOT_FOUND,
            () -> stub(securedChannel, "bob-token").chat(ask("?", image(null, "cat"))).next());
    var unknown =
        refusedFast(
            Status.Code.NOT_FOUND,
            () -> stub(securedChannel, "bob-token").chat(ask("?", image(null, "dog"))).next());
    assertEquals(
        unknown.getStatus().getDescription().replace("'dog'", "'cat'"),
        stolen.getStatus().getDescription());
    // bob binding his own bytes to "cat" does not touch alice's
    stub(securedChannel, "bob-token")
        .chat(ask("mine", image(png(8, 64, 48), "cat")))
        .forEachRemaining(c -> {});
    var rebind =
        refusedFast(
            Status.Code.INVALID_ARGUMENT,
            () ->
                stub(securedChannel, "alice-token")
                    .chat(ask("swap", image(png(8, 64, 48), "cat")))
                    .next());
    assertTrue(
        !rebind.getStatus().getDescription().matches("(?s).*[0-9a-f]{64}.*"),
        rebind.getStatus().getDescription());
  }
}
