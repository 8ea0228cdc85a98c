package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.types.v1.Tensor;

/**
 * Ids: 1 = im_start, 2 = im_end, 3 = "system", 4 = "user", 5 = "assistant", 9 = image token, 10+ =
 * text, 0 = "\n".
 */
class PrefixKeyTest {
  static final PrefixKey KEY = new PrefixKey(1, 2, new int[] {3});

  static GenerateRequest req(int[] ids, Tensor... images) {
    GenerateRequest.Builder b = GenerateRequest.newBuilder().setImageTokenId(9);
    for (int id : ids) b.addInputIds(id);
    for (Tensor t : images) b.addImageEmbeddings(t);
    return b.build();
  }

  static Tensor image(int rows, int seed) {
    byte[] data = new byte[rows * 4 * 16];
    new java.util.Random(seed).nextBytes(data);
    return Tensor.newBuilder()
        .addShape(rows)
        .addShape(16)
        .setData(ByteString.copyFrom(data))
        .build();
  }

  static final int[] TURN1 = {1, 3, 0, 10, 11, 2, 0, 1, 4, 0, 9, 9, 12, 2, 0, 1, 5, 0};
  static final int[] TURN2 = {
    1, 3, 0, 10, 11, 2, 0, 1, 4, 0, 9, 9, 12, 2, 0, 1, 5, 0, 13, 2, 0, 1, 4, 0, 14, 2, 0, 1, 5, 0
  };

  @Test
  void thePrefixEndsWithTheFirstTurnThatIsNotASystemTurn() {
    assertEquals(14, KEY.prefixLength(req(TURN1)));
    assertEquals(14, KEY.prefixLength(req(TURN2)));
    assertEquals(5, KEY.prefixLength(req(new int[] {1, 4, 0, 12, 2, 0, 1, 5, 0})));
  }

  @Test
  void laterTurnsOfAConversationHaveTheKeyOfItsFirstTurn() {
    Tensor img = image(2, 7);
    assertEquals(KEY.key(req(TURN1, img)), KEY.key(req(TURN2, img, image(2, 8))));
  }

  @Test
  void anotherImageOrAnotherFirstQuestionOrAnotherSystemPromptIsAnotherKey() {
    long k = KEY.key(req(TURN1, image(2, 7)));
    assertNotEquals(k, KEY.key(req(TURN1, image(2, 8))));
    int[] otherQuestion = TURN1.clone();
    otherQuestion[12] = 15;
    assertNotEquals(k, KEY.key(req(otherQuestion, image(2, 7))));
    int[] otherSystem = TURN1.clone();
    otherSystem[4] = 16;
    assertNotEquals(k, KEY.key(req(otherSystem, image(2, 7))));
  }

  @Test
  void aPromptWithoutTurnsIsKeyedWhole() {
    assertEquals(3, KEY.prefixLength(req(new int[] {10, 11, 12})));
    assertNotEquals(KEY.key(req(new int[] {10, 11, 12})), KEY.key(req(new int[] {10, 11, 13})));
  }

  @Test
  void largeEmbeddingsAreSampledAndStillToldApart() {
    Tensor a = image(512, 1);
    byte[] changed = a.getData().toByteArray();
    changed[0] ^= 1; // the first slice is always in the sample
    Tensor b = a.toBuilder().setData(ByteString.copyFrom(changed)).build();
    int[] ids = new int[512 + 4];
    java.util.Arrays.fill(ids, 9);
    ids[0] = 1;
    ids[1] = 4;
    ids[2] = 0;
    ids[ids.length - 1] = 2;
    assertNotEquals(KEY.key(req(ids, a)), KEY.key(req(ids, b)));
  }
}
