package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import tandem.common.checkpoint.GenerationConfig;

class GenerationDefaultsTest {
  @Test
  void aCheckpointThatSaysNothingGetsTheDemoSettingsAndGreedy() {
    GenerationDefaults d =
        GenerationDefaults.from(
            new GenerationConfig(
                List.of(151645), 151643, 151643, null, null, null, null, null, null, null, null));
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
    GenerationDefaults d =
        GenerationDefaults.from(
            new GenerationConfig(
                List.of(151645, 151643), null, null, true, 0.6, 20, 0.95, null, null, null, null));
    GenerationSettings s = d.resolve(GenerationOverrides.none(), () -> 1);
    assertTrue(s.doSample());
    assertEquals(0.6f, s.temperature());
    assertEquals(20, s.topK());
    assertEquals(0.95f, s.topP());
    assertArrayEquals(new int[] {151645, 151643}, s.stopIds());
  }

  @Test
  void theFixtureCheckpointsGenerationConfigIsRead() throws Exception {
    GenerationDefaults d =
        GenerationDefaults.fromDir(tandem.common.testing.Fixtures.path("decoder-tiny"));
    assertArrayEquals(new int[] {151645, 151643}, d.stopIds());
    assertEquals(false, d.doSample());
    assertEquals(1024, d.maxNewTokens());
  }

  @Test
  void requestValuesOverrideAndTemperatureZeroMeansGreedy() {
    GenerationDefaults d = GenerationDefaults.demo(2);
    GenerationOverrides o =
        new GenerationOverrides(5, 0, 0, 0f, null, null, 9L, 1.3f, new int[] {3, 4});
    GenerationSettings s = d.resolve(o, () -> 1);
    assertEquals(5, s.maxNewTokens());
    assertEquals(0, s.minNewTokens());
    assertEquals(0, s.noRepeatNgramSize());
    assertEquals(false, s.doSample());
    assertEquals(9, s.seed());
    assertEquals(1.3f, s.repetitionPenalty());
    assertArrayEquals(new int[] {3, 4}, s.stopIds());
    GenerationSettings hot =
        d.resolve(
            new GenerationOverrides(null, null, null, 0.8f, 0.9f, 0, null, null, new int[0]),
            () -> 1);
    assertTrue(hot.doSample());
    assertEquals(0.8f, hot.temperature());
    assertEquals(0, hot.topK());
  }

  @Test
  void outOfRangeValuesAreRejectedWithTheFieldName() {
    GenerationDefaults d = GenerationDefaults.demo(2);
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                d.resolve(
                    new GenerationOverrides(
                        null, null, null, null, 1.5f, null, null, null, new int[0]),
                    () -> 1));
    assertTrue(e.getMessage().contains("top_p"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                d.resolve(
                    new GenerationOverrides(
                        0, null, null, null, null, null, null, null, new int[0]),
                    () -> 1));
    assertTrue(e.getMessage().contains("max_new_tokens"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                d.resolve(
                    new GenerationOverrides(
                        null, null, null, -1f, null, null, null, null, new int[0]),
                    () -> 1));
    assertTrue(e.getMessage().contains("temperature"), e.getMessage());
  }
}
