package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The LANCZOS tap table is outSize x (2*ceil(3*in/out)+1) ints, about 24 bytes per input pixel
 * along the resized axis: a 1-pixel-high image within the pixel limit made preprocessing allocate
 * many times more than a square image of the same pixel count (a 50,000,000 x 1 one, 1.2 GB). Now
 * the vertical pass computes its taps per output row and the horizontal table holds at most
 * PillowResample.MAX_TABLE_INTS.
 */
class ResampleMemoryTest {
  static long allocatedBy(Runnable r) {
    com.sun.management.ThreadMXBean mx =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long t = Thread.currentThread().getId();
    long a0 = mx.getThreadAllocatedBytes(t);
    r.run();
    return mx.getThreadAllocatedBytes(t) - a0;
  }

  @Test
  void aOnePixelHighImageCostsNoMoreThanASquareOneOfTheSamePixelCount() {
    int pixels = 20_000_000; // under the default 50,000,000 pixel limit
    int side = (int) Math.sqrt(pixels);
    PreprocessorConfig cfg = PreprocessorConfig.smolVlmDefaults();
    DecodedImage square =
        DecodedImage.of(side, side, DecodedImage.Mode.RGB, new byte[side * side * 3]);
    long sq = allocatedBy(() -> SmolVlmImageProcessor.preprocess(square, cfg));
    DecodedImage thin = DecodedImage.of(pixels, 1, DecodedImage.Mode.RGB, new byte[pixels * 3]);
    long th = allocatedBy(() -> SmolVlmImageProcessor.preprocess(thin, cfg));
    System.out.printf(
        "square %dx%d: %d MB, thin %dx1: %d MB%n", side, side, sq >> 20, pixels, th >> 20);
    assertTrue(
        th <= 2 * sq,
        "preprocessing a "
            + pixels
            + "x1 RGB image ("
            + (pixels * 3L >> 20)
            + " MB decoded) allocated "
            + (th >> 20)
            + " MB; a "
            + side
            + "x"
            + side
            + " one allocated "
            + (sq >> 20)
            + " MB");
  }
}
