package tandem.gateway.tokenize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.testing.Fixtures;

class DetokenizerTest {
  static QwenTokenizer tok;

  @BeforeAll
  static void load() {
    tok = tandem.gateway.testing.SharedTokenizer.get();
  }

  /**
   * A CJK character that byte-level BPE splits into several tokens, the first ending mid-character.
   */
  static int[] splitCharacterIds(StringBuilder found) {
    for (int cp = 0x4E00; cp <= 0x9FFF; cp++) {
      String s = new String(Character.toChars(cp));
      int[] ids = tok.encodeText(s);
      if (ids.length >= 2) {
        found.append(s);
        return ids;
      }
    }
    throw new AssertionError("no CJK character is split over two tokens");
  }

  @Test
  void aChineseCharacterSplitOverTwoTokensIsNeverEmittedBroken() {
    StringBuilder ch = new StringBuilder();
    int[] ids = splitCharacterIds(ch);
    IncrementalDetokenizer d = new IncrementalDetokenizer(tok, true);
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < ids.length; i++) {
      String delta = d.push(ids[i]);
      assertFalse(delta.contains("\uFFFD"), "delta " + i + " has a replacement character");
      if (i < ids.length - 1) assertEquals("", delta, "held back until the character is complete");
      out.append(delta);
    }
    out.append(d.flush());
    assertEquals(ch.toString(), out.toString());
    // The first token alone really is an incomplete UTF-8 sequence (so the test exercises the
    // hold-back).
    byte[] first = tok.tokenBytes(ids[0]);
    assertTrue(IncrementalDetokenizer.completePrefix(first) < first.length);
  }

  @Test
  void streamingTheFixturePromptsGivesExactlyWhatRustTokenizersDecodes() throws Exception {
    JsonObject root =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    for (JsonElement e : root.getAsJsonArray("conversations")) {
      var a = e.getAsJsonObject().getAsJsonArray("input_ids");
      int[] ids = new int[a.size()];
      for (int i = 0; i < ids.length; i++) ids[i] = a.get(i).getAsInt();
      for (boolean skip : new boolean[] {true, false}) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(tok, skip);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.push(id));
        sb.append(d.flush());
        assertEquals(tok.decodeReference(ids, skip), sb.toString());
      }
    }
  }

  @Test
  void specialTokensAreSkippedButThinkTagsAreNot() {
    int imEnd = tok.addedTokenId("<|im_end|>");
    int think = tok.addedTokenId("<think>");
    assertEquals("", tok.decode(new int[] {imEnd}, true));
    assertEquals("<|im_end|>", tok.decode(new int[] {imEnd}, false));
    assertEquals(
        "<think>", tok.decode(new int[] {think}, true)); // Qwen3 flags <think> special=false
  }

  @Test
  void idsBeyondTheTokenizerVocabularyDecodeToNothing() {
    assertEquals("", tok.decode(new int[] {151935}, true));
    assertEquals("a", tok.decode(new int[] {64, 151900}, true));
  }

  @Test
  void bytesThatCanNeverFormACharacterBecomeReplacementCharacters() {
    // A stand-alone continuation byte, then a lead byte cut off at the end of the stream.
    TokenBytes fake =
        new TokenBytes() {
          public byte[] tokenBytes(int id) {
            return switch (id) {
              case 0 -> new byte[] {(byte) 0x80};
              case 1 -> "ok".getBytes(StandardCharsets.UTF_8);
              default -> new byte[] {(byte) 0xE4, (byte) 0xB8};
            };
          }

          public boolean isSpecial(int id) {
            return false;
          }
        };
    IncrementalDetokenizer d = new IncrementalDetokenizer(fake, true);
    assertEquals("\uFFFD", d.push(0));
    assertEquals("ok", d.push(1));
    assertEquals("", d.push(2));
    assertEquals("\uFFFD", d.flush());
  }

  @Test
  void everyVocabularyEntryHasBytes() {
    List<Integer> missing = new ArrayList<>();
    for (int id = 0; id < 151669; id++) if (tok.tokenBytes(id) == null) missing.add(id);
    assertTrue(missing.isEmpty(), "ids without bytes: " + missing);
    assertNotNull(tok.tokenBytes(198));
    assertEquals("\n", new String(tok.tokenBytes(198), StandardCharsets.UTF_8));
  }
}
