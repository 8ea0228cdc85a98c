package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The size rules of HF's {@code Idefics3ImageProcessor} ({@code get_resize_output_image_size},
 * {@code resize_for_vision_encoder}, {@code split_image}), as pure functions (no pixels).
 */
class ResizeRulesTest {
  static PreprocessorConfig cfg(boolean split, int longest) {
    return new PreprocessorConfig(
        true,
        true,
        new PreprocessorConfig.LongestEdge(longest),
        1,
        split,
        new PreprocessorConfig.LongestEdge(512),
        true,
        1.0 / 255,
        true,
        List.of(0.5, 0.5, 0.5),
        List.of(0.5, 0.5, 0.5),
        true,
        64);
  }

  @ParameterizedTest(name = "{0}x{1} split={2} -> {3}x{4}, {5}x{6}, grid {7}x{8}, {9} images")
  @CsvSource({
    // H, W, split, after get_resize_output_image_size (H, W), after resize_for_vision_encoder (H,
    // W), rows, cols,
    // images
    "512, 512, true, 2048, 2048, 2048, 2048, 4, 4, 17",
    "512, 512, false, 2048, 2048, 2048, 2048, 0, 0, 1",
    "768, 1024, true, 1536, 2048, 1536, 2048, 3, 4, 13",
    "768, 1024, false, 1536, 2048, 1536, 2048, 0, 0, 1",
    "384, 512, true, 1536, 2048, 1536, 2048, 3, 4, 13",
    "1080, 1920, true, 1152, 2048, 1536, 2048, 3, 4, 13",
    // portrait: the width is truncated, then rounded up to even
    "1920, 1080, true, 2048, 1152, 2048, 1536, 4, 3, 13",
    "517, 333, true, 2048, 1320, 2048, 1536, 4, 3, 13",
    // a sliver: the short side truncates to 0, stays even, then max(…, 1)
    "1, 5000, true, 1, 2048, 512, 2048, 1, 4, 5",
    "5000, 1, true, 2048, 1, 2048, 512, 4, 1, 5",
    // odd truncation rounds up: 2048 * 3 / 7 = 877.7 -> 877 -> 878
    "700, 300, true, 2048, 878, 2048, 1024, 4, 2, 9",
    "300, 700, true, 878, 2048, 1024, 2048, 2, 4, 9",
  })
  void sizesAndGridFollowTheHuggingFaceRules(
      int h, int w, boolean split, int h2, int w2, int h3, int w3, int rows, int cols, int images) {
    var s2 = SmolVlmImageProcessor.longestEdgeSize(h, w, 2048);
    assertEquals(new SmolVlmImageProcessor.Size(h2, w2), s2);
    assertEquals(
        new SmolVlmImageProcessor.Size(h3, w3),
        SmolVlmImageProcessor.visionEncoderSize(h2, w2, 512));
    assertArrayEquals(
        new int[] {rows, cols, images}, SmolVlmImageProcessor.grid(h, w, cfg(split, 2048)));
  }

  @ParameterizedTest(name = "longest_edge {2}: {0}x{1} -> {3}x{4}")
  @CsvSource({
    // over 4096 the longest side is scaled back down, without the even rounding
    "1000, 3000, 5000, 1364, 4096",
    "3001, 1000, 6000, 4096, 1365",
    "10, 10, 1536, 1536, 1536",
  })
  void theLongestSideIsCappedAt4096(int h, int w, int longest, int eh, int ew) {
    assertEquals(
        new SmolVlmImageProcessor.Size(eh, ew),
        SmolVlmImageProcessor.longestEdgeSize(h, w, longest));
  }
}
