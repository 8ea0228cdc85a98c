package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PillowResampleTest {
  @Test
  void compositingAnOpaquePixelOverWhiteKeepsItsColourAndATransparentOneBecomesWhite() {
    for (int c = 0; c < 256; c++) {
      assertEquals(c, PillowResample.compositeOverWhite(c, 255), "opaque " + c);
      assertEquals(255, PillowResample.compositeOverWhite(c, 0), "transparent " + c);
    }
  }

  @ParameterizedTest(name = "colour {0} alpha {1}: premultiplied {2}, back {3}, over white {4}")
  @CsvSource({
    // c, a, MULDIV255(c,a), 255*pre/a truncated, composite over white (AlphaComposite.c, 7-bit)
    "200, 128, 100, 199, 227",
    "255, 1, 1, 255, 255",
    "0, 128, 0, 0, 127",
    "10, 254, 10, 10, 11",
    "77, 0, 0, 0, 255",
  })
  void alphaArithmeticMatchesPillowIntegerRounding(int c, int a, int pre, int back, int over) {
    byte[] px = {(byte) c, (byte) c, (byte) c, (byte) a};
    byte[] p = PillowResample.premultiply(px);
    assertEquals(pre, p[0] & 0xff);
    assertEquals(a, p[3] & 0xff);
    // unpremultiply copies the colour for alpha 0 and 255 and divides otherwise
    int expectedBack = (a == 0 || a == 255) ? pre : back;
    assertEquals(expectedBack, PillowResample.unpremultiply(p)[0] & 0xff);
    assertEquals(over, PillowResample.compositeOverWhite(c, a));
  }

  @ParameterizedTest(name = "{0} -> {1}: {2}")
  @CsvSource({
    "3, 5, '0,0,1,2,2'",
    "5, 3, '0,2,4'",
    "4, 8, '0,0,1,1,2,2,3,3'",
    "3, 1, '1'",
  })
  void nearestPicksTheSourceIndexUnderEachOutputCentre(int in, int out, String expected) {
    int[] want = java.util.Arrays.stream(expected.split(",")).mapToInt(Integer::parseInt).toArray();
    assertArrayEquals(want, PillowResample.nearestIndex(in, out));
  }

  @Test
  void resizingToTheSameSizeReturnsTheImageUntouched() {
    DecodedImage im =
        DecodedImage.of(2, 1, DecodedImage.Mode.RGBA, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
    assertSame(im, PillowResample.resize(im, 2, 1, PreprocessorConfig.RESAMPLE_LANCZOS));
  }

  @Test
  void lanczosWeightsOfEveryOutputSumToOneInFixedPointWithinRounding() {
    for (int[] io : new int[][] {{600, 1536}, {1536, 512}, {37, 1536}, {2048, 512}, {7, 3}}) {
      PillowResample.Coefficients c = PillowResample.coefficients(io[0], io[1]);
      for (int i = 0; i < io[1]; i++) {
        long sum = 0;
        for (int x = 0; x < c.count()[i]; x++) sum += c.k()[i * c.ksize() + x];
        // each tap rounds by at most half a step
        assertEquals(
            1 << PillowResample.PRECISION_BITS,
            sum,
            c.count()[i],
            io[0] + "->" + io[1] + " out " + i);
      }
    }
  }

  /**
   * With the horizontal tap table refilled one column at a time (as, by ranges, for an extremely
   * wide image) the bytes are the same as with the whole table: both passes, each alone, up and
   * down, 1/3/4 channels.
   */
  @Test
  void lanczosWithoutTheTapTableGivesTheSameBytes() {
    java.util.Random rnd = new java.util.Random(7);
    int[][] cases = {
      {97, 61, 40, 30},
      {40, 30, 97, 61},
      {300, 7, 31, 7},
      {5, 400, 5, 33},
      {64, 48, 17, 90},
      {9, 1, 2, 1}
    };
    for (int ch : new int[] {1, 3, 4}) {
      for (int[] c : cases) {
        byte[] src = new byte[c[0] * c[1] * ch];
        rnd.nextBytes(src);
        byte[] table = PillowResample.lanczos(src, c[0], c[1], ch, c[2], c[3]);
        byte[] none = PillowResample.lanczos(src, c[0], c[1], ch, c[2], c[3], 0);
        assertArrayEquals(table, none, ch + " channels, " + java.util.Arrays.toString(c));
      }
    }
  }

  @Test
  void aFlatImageStaysFlatThroughLanczosUpAndDown() {
    byte[] flat = new byte[40 * 30 * 3];
    java.util.Arrays.fill(flat, (byte) 93);
    byte[] up = PillowResample.lanczos(flat, 40, 30, 3, 97, 61);
    byte[] down = PillowResample.lanczos(up, 97, 61, 3, 13, 11);
    for (byte b : up) assertEquals(93, b & 0xff);
    for (byte b : down) assertEquals(93, b & 0xff);
  }
}
