package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import tandem.vision.preprocess.ImageDecodeException.Reason;

/**
 * WebP through TwelveMonkeys, against libwebp 1.2.4's {@code dwebp} (what Pillow links). The files
 * and references in {@code src/test/resources/webp} were made with cwebp/dwebp 1.2.4 (see the
 * README there).
 */
class WebpDecodeTest {
  private static final ImageDecoder DECODER = ImageDecoder.withDefaults();

  static byte[] resource(String name) throws IOException {
    try (InputStream in = WebpDecodeTest.class.getResourceAsStream("/webp/" + name)) {
      if (in == null) throw new IllegalStateException("missing test resource webp/" + name);
      return in.readAllBytes();
    }
  }

  /** RGBA samples of a PAM file written by dwebp. */
  static byte[] pamRgba(String name) throws IOException {
    byte[] pam = resource(name);
    String head = new String(pam, 0, Math.min(pam.length, 200), StandardCharsets.ISO_8859_1);
    int off = head.indexOf("ENDHDR\n") + 7;
    return Arrays.copyOfRange(pam, off, pam.length);
  }

  static int maxColourDiff(DecodedImage d, byte[] rgba) {
    int ch = d.channels();
    int m = 0;
    for (int i = 0, j = 0; i < d.pixels().length; i += ch, j += 4) {
      for (int c = 0; c < 3; c++)
        m = Math.max(m, Math.abs((d.pixels()[i + c] & 0xff) - (rgba[j + c] & 0xff)));
    }
    return m;
  }

  @Test
  void losslessWebpDecodesBitExactlyAsLibwebp() throws Exception {
    DecodedImage d = DECODER.decode(resource("coffee_lossless.webp"));
    assertEquals(DecodedImage.Mode.RGB, d.mode());
    assertEquals(128, d.width());
    assertEquals(96, d.height());
    assertEquals(0, maxColourDiff(d, pamRgba("coffee_lossless.dwebp.pam")));
  }

  @Test
  void lossyWebpDecodesButDiffersFromLibwebpByUpTo48Levels() throws Exception {
    DecodedImage d = DECODER.decode(resource("coffee_lossy.webp"));
    assertEquals(DecodedImage.Mode.RGB, d.mode());
    int diff = maxColourDiff(d, pamRgba("coffee_lossy.dwebp.pam"));
    // documented limitation: TwelveMonkeys' VP8 path is not libwebp's; this pins how far off it is
    // today
    assertTrue(diff > 0 && diff <= 48, "max |diff| " + diff);
  }

  @Test
  void lossyWebpWithAlphaKeepsTheExactAlphaPlane() throws Exception {
    DecodedImage d = DECODER.decode(resource("rgba_lossy.webp"));
    assertEquals(DecodedImage.Mode.RGBA, d.mode());
    byte[] ref = pamRgba("rgba_lossy.dwebp.pam");
    for (int i = 3; i < ref.length; i += 4)
      assertEquals(ref[i], d.pixels()[i], "alpha at " + i / 4);
  }

  @Test
  void aTruncatedWebpIsRefusedAsCorrupt() throws Exception {
    byte[] full = resource("coffee_lossless.webp");
    byte[] cut = Arrays.copyOf(full, full.length / 2);
    ImageDecodeException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(5),
            () -> assertThrows(ImageDecodeException.class, () -> DECODER.decode(cut)));
    assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
  }

  @Test
  void aWebpHeaderClaiming16384SquaredIsRefusedBeforeDecoding() throws Exception {
    byte[] b = resource("coffee_lossless.webp").clone();
    // VP8L: signature 0x2f at 20, then 14 bits width-1 and 14 bits height-1, little-endian bit
    // order
    assertEquals(0x2f, b[20] & 0xff);
    b[21] = (byte) 0xFF;
    b[22] = (byte) 0xFF;
    b[23] = (byte) 0xFF;
    b[24] = (byte) ((b[24] & 0xF0) | 0x0F);
    ImageDecodeException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(5),
            () -> assertThrows(ImageDecodeException.class, () -> DECODER.decode(b)));
    assertEquals(Reason.TOO_MANY_PIXELS, e.reason(), e.getMessage());
    assertTrue(e.getMessage().contains("16384x16384"), e.getMessage());
  }

  @Test
  void webpIsPreprocessedIntoTheSameGridAsItsPngTwin() throws Exception {
    DecodedImage d = DECODER.decode(resource("coffee_lossless.webp"));
    SmolVlmImageProcessor.Processed p =
        SmolVlmImageProcessor.preprocess(d, PreprocessorConfig.smolVlmDefaults());
    assertArrayEquals(new int[] {3, 4, 13}, new int[] {p.rows(), p.cols(), p.tiles()});
  }
}
