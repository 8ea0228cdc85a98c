package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Colour JPEGs (4:2:0, 4:2:2, 4:4:0, 4:4:4, progressive; odd size) decode to exactly the RGB bytes
 * of libjpeg-turbo 2.1.5's {@code djpeg} with Pillow's settings (ISLOW, fancy upsampling). See
 * {@code src/test/resources/jpeg}.
 */
class JpegDecodeTest {
  static byte[] resource(String name) throws IOException {
    try (InputStream in = JpegDecodeTest.class.getResourceAsStream("/jpeg/" + name)) {
      if (in == null) throw new IllegalStateException("missing test resource jpeg/" + name);
      return in.readAllBytes();
    }
  }

  static Stream<String[]> references() throws IOException {
    return new String(resource("djpeg_rgb_sha256.txt"), StandardCharsets.UTF_8)
        .lines()
        .filter(l -> !l.isBlank())
        .map(l -> l.trim().split("\\s+"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("references")
  void colourJpegDecodesBitExactlyAsLibjpegTurbo(String file, String sha256) throws Exception {
    DecodedImage d = ImageDecoder.withDefaults().decode(resource(file));
    assertEquals(DecodedImage.Mode.RGB, d.mode());
    assertEquals(157, d.width());
    assertEquals(93, d.height());
    assertEquals(
        sha256, HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(d.pixels())));
  }
}
