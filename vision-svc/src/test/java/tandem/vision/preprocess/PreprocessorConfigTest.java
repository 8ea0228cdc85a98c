package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tandem.common.testing.Fixtures;

class PreprocessorConfigTest {
  @Test
  void theFixtureCheckpointConfigIsReadKeyForKey() throws Exception {
    PreprocessorConfig c = PreprocessorConfig.fromDir(Fixtures.path("vlm-tiny/checkpoint"));
    assertEquals(
        new PreprocessorConfig(
            true,
            true,
            new PreprocessorConfig.LongestEdge(1536),
            1,
            true,
            new PreprocessorConfig.LongestEdge(512),
            true,
            0.00392156862745098,
            true,
            List.of(0.5, 0.5, 0.5),
            List.of(0.5, 0.5, 0.5),
            true,
            64),
        c);
  }

  @Test
  void missingKeysTakeTheHuggingFaceConstructorDefaults() {
    PreprocessorConfig c = PreprocessorConfig.fromJson("{}", null);
    assertEquals(PreprocessorConfig.hfClassDefaults(), c);
    assertEquals(1456, c.size().longestEdge());
    assertEquals(364, c.maxImageSize().longestEdge());
  }

  @Test
  void imageSeqLenComesFromProcessorConfig() {
    assertEquals(81, PreprocessorConfig.fromJson("{}", "{\"image_seq_len\": 81}").imageSeqLen());
  }

  @Test
  void aSingleNumberMeanIsUsedForAllThreeChannels() {
    assertEquals(
        List.of(0.25, 0.25, 0.25),
        PreprocessorConfig.fromJson("{\"image_mean\": 0.25}", null).imageMean());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "{\"resample\": 3}",
        "{\"size\": {\"height\": 512, \"width\": 512}}",
        "{\"image_std\": [0.5, 0.0, 0.5]}",
        "{\"image_mean\": [0.5, 0.5]}",
        "{\"max_image_size\": {\"longest_edge\": 0}}",
        "[1, 2]",
      })
  void unsupportedSettingsAreRefusedWithAMessage(String json) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> PreprocessorConfig.fromJson(json, null));
    assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
  }

  @Test
  void theCacheKeyIsStableAndChangesWithEverySettingThatChangesPixels() {
    PreprocessorConfig base = PreprocessorConfig.smolVlmDefaults();
    assertEquals(
        base.cacheKey(),
        PreprocessorConfig.fromJson(
                "{\"size\":{\"longest_edge\":2048},\"max_image_size\":{\"longest_edge\":512}}",
                null)
            .cacheKey());
    String[] variants = {
      "{\"do_convert_rgb\": false}",
      "{\"do_resize\": false}",
      "{\"size\":{\"longest_edge\":1536}}",
      "{\"resample\": 0}",
      "{\"do_image_splitting\": false}",
      "{\"max_image_size\":{\"longest_edge\":384}}",
      "{\"do_rescale\": false}",
      "{\"rescale_factor\": 0.5}",
      "{\"do_normalize\": false}",
      "{\"image_mean\": [0.4, 0.5, 0.5]}",
      "{\"image_std\": [0.5, 0.5, 0.6]}",
    };
    for (String v : variants) {
      String json =
          "{\"size\":{\"longest_edge\":2048},\"max_image_size\":{\"longest_edge\":512},"
              + v.substring(1);
      if (v.contains("\"size\"") || v.contains("max_image_size")) json = v;
      PreprocessorConfig c = PreprocessorConfig.fromJson(json, null);
      assertNotEquals(base.cacheKey(), c.cacheKey(), v);
    }
    // do_pad and image_seq_len do not change a single image's pixels
    assertEquals(
        base.cacheKey(),
        PreprocessorConfig.fromJson(
                "{\"size\":{\"longest_edge\":2048},\"max_image_size\":{\"longest_edge\":512},\"do_pad\":false}",
                "{\"image_seq_len\":9}")
            .cacheKey());
  }
}
