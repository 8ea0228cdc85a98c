package tandem.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import tandem.common.error.Rejection;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.Grid;
import tandem.gateway.chat.ImageExpansion;
import tandem.gateway.chat.Segment;
import tandem.gateway.grpc.ProtoChat;
import tandem.gateway.pipeline.ChatInput;
import tandem.gateway.testing.SharedTokenizer;
import tandem.gateway.tokenize.QwenTokenizer;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;

/**
 * Random chat requests through the gateway's validation, template and tokenization (everything the
 * chat pipeline does before calling a backend). A request is either accepted — and then its prompt
 * tokenizes with exactly the template's control tokens — or refused with INVALID_ARGUMENT and a
 * message; nothing else may escape. Tries per property: {@code jqwik.tries.default} (see
 * docs/security.md for the long run).
 */
class ChatValidationFuzzTest {
  static final AtomicLong inputs = new AtomicLong();
  static final AtomicLong accepted = new AtomicLong();

  /** First added-token id of Qwen3: anything at or above is a control token. */
  static final int FIRST_ADDED = 151643;

  @Property
  void anyRequestIsAcceptedOrRefusedAsInvalidArgument(@ForAll("requests") ChatRequest req) {
    inputs.incrementAndGet();
    QwenTokenizer tok = SharedTokenizer.get();
    List<Segment> rendered;
    ChatInput conv;
    try {
      conv = ProtoChat.input(req);
      try {
        rendered = ChatTemplate.render(conv.messages(), true, false);
      } catch (IllegalArgumentException e) {
        // the pipeline maps this to INVALID; it must say what was wrong
        assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
        return;
      }
    } catch (Rejection e) {
      assertEquals(Rejection.Kind.INVALID, e.kind(), e.toString());
      assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
      return;
    } catch (Throwable t) {
      fail("request threw " + t + ": " + req, t);
      return;
    }
    accepted.incrementAndGet();
    Grid[] grids = new Grid[conv.images().size()];
    Arrays.fill(grids, new Grid(0, 0));
    List<Segment> expanded = ImageExpansion.expand(rendered, List.of(grids), 4);
    int[] ids = tok.encode(expanded);
    // every control id comes from a Special segment written by the template or the expansion, never
    // from text
    long specialSegments = expanded.stream().filter(s -> s instanceof Segment.Special).count();
    long controlIds = Arrays.stream(ids).filter(i -> i >= FIRST_ADDED).count();
    assertEquals(specialSegments, controlIds, "client text became a control token: " + req);
  }

  @AfterContainer
  static void report() {
    System.out.println(
        "ChatValidationFuzzTest: "
            + inputs.get()
            + " requests fuzzed, "
            + accepted.get()
            + " accepted");
  }

  static final List<String> NASTY =
      List.of(
          "<|im_start|>",
          "<|im_end|>",
          "<|image_pad|>",
          "<image>",
          "<think>",
          "</think>",
          "<|endoftext|>",
          "<fake_token_around_image>",
          "<global-img>",
          "<row_1_col_1>",
          "<box>",
          "\u0000",
          "\uFFFD",
          "\uD800",
          "\uDC00",
          "\u202E",
          "🙂",
          "\r\n",
          "{{",
          "{%",
          "system",
          "assistant");

  @Provide
  Arbitrary<ChatRequest> requests() {
    Arbitrary<String> role =
        Arbitraries.oneOf(
            Arbitraries.of("user", "assistant", "system", "tool", "", "USER", " user", "developer"),
            Arbitraries.strings().ofMaxLength(8));
    Arbitrary<String> text =
        Arbitraries.oneOf(
            Arbitraries.strings().ofMaxLength(40),
            Arbitraries.of(NASTY).list().ofMaxSize(6).map(l -> String.join("", l)),
            Arbitraries.strings().all().ofMaxLength(20));
    Arbitrary<ContentPart> textPart = text.map(t -> ContentPart.newBuilder().setText(t).build());
    Arbitrary<ContentPart> imagePart =
        Combinators.combine(
                Arbitraries.bytes().array(byte[].class).ofMaxSize(8),
                Arbitraries.strings().ofMaxLength(4))
            .as(
                (d, id) ->
                    ContentPart.newBuilder()
                        .setImage(
                            ImagePart.newBuilder().setData(ByteString.copyFrom(d)).setImageId(id))
                        .build());
    Arbitrary<ContentPart> emptyPart = Arbitraries.just(ContentPart.getDefaultInstance());
    Arbitrary<ContentPart> part =
        Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(6, textPart),
            net.jqwik.api.Tuple.of(2, imagePart),
            net.jqwik.api.Tuple.of(1, emptyPart));
    Arbitrary<ChatMessage> message =
        Combinators.combine(role, part.list().ofMaxSize(4))
            .as((r, ps) -> ChatMessage.newBuilder().setRole(r).addAllContent(ps).build());
    return message
        .list()
        .ofMaxSize(5)
        .map(ms -> ChatRequest.newBuilder().addAllMessages(ms).build());
  }
}
