package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

class GenerationDefaultsTest {
  @Test
  void aCheckpointThatSaysNothingGetsTheDemoSettingsAndGreedy() {
    GenerationDefaults d = GenerationDefaults.fromJson(
        JsonParser.parseString("{\"bos_token_id\":151643,\"eos_token_id\":151645,\"pad_token_id\":151643}")
            .getAsJsonObject());
    GenerationSettings s = d.resolve(GenerationOverrides.none(), () -> 7);
    assertEquals(1024, s.maxNewTokens());
    assertEquals(16, s.minNewTokens());
    assertEquals(2, s.noRepeatNgramSize());
    assertEquals(false, s.doSample());
    assertArrayEquals(new int[] {151645}, s.stopIds());
    assertEquals(7, s.seed());
  }

  @Test
  void generationConfigValuesAndEosListsAreRead() {
    GenerationDefaults d = GenerationDefaults.fromJson(JsonParser.parseString(
        "{\"eos_token_id\":[151645,151643],\"do_sample\":true,\"temperature\":0.6,\"top_k\":20,\"top_p\":0.95}")
        .getAsJsonObject());
    GenerationSettings s = d.resolve(GenerationOverrides.none(), () -> 1);
    assertTrue(s.doSample());
    assertEquals(0.6f, s.temperature());
    assertEquals(20, s.topK());
    assertEquals(0.95f, s.topP());
    assertArrayEquals(new int[] {151645, 151643}, s.stopIds());
  }

  @Test
  void requestValuesOverrideAndTemperatureZeroMeansGreedy() {
    GenerationDefaults d = GenerationDefaults.demo(2);
    GenerationOverrides o = new GenerationOverrides(5, 0, 0, 0f, null, null, 9L, 1.3f, new int[] {3, 4});
    GenerationSettings s = d.resolve(o, () -> 1);
    assertEquals(5, s.maxNewTokens());
    assertEquals(0, s.minNewTokens());
    assertEquals(0, s.noRepeatNgramSize());
    assertEquals(false, s.doSample());
    assertEquals(9, s.seed());
    assertEquals(1.3f, s.repetitionPenalty());
    assertArrayEquals(new int[] {3, 4}, s.stopIds());
    GenerationSettings hot = d.resolve(
        new GenerationOverrides(null, null, null, 0.8f, 0.9f, 0, null, null, new int[0]), () -> 1);
    assertTrue(hot.doSample());
    assertEquals(0.8f, hot.temperature());
    assertEquals(0, hot.topK());
  }

  @Test
  void outOfRangeValuesAreRejectedWithTheFieldName() {
    GenerationDefaults d = GenerationDefaults.demo(2);
    var e = assertThrows(IllegalArgumentException.class, () -> d.resolve(
        new GenerationOverrides(null, null, null, null, 1.5f, null, null, null, new int[0]), () -> 1));
    assertTrue(e.getMessage().contains("top_p"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> d.resolve(
        new GenerationOverrides(0, null, null, null, null, null, null, null, new int[0]), () -> 1));
    assertTrue(e.getMessage().contains("max_new_tokens"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> d.resolve(
        new GenerationOverrides(null, null, null, -1f, null, null, null, null, new int[0]), () -> 1));
    assertTrue(e.getMessage().contains("temperature"), e.getMessage());
  }
}
