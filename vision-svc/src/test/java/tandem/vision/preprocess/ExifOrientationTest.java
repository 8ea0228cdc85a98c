package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ExifOrientationTest {
  @ParameterizedTest(name = "orientation {0} -> {1}x{2} {3}")
  @CsvSource({
    // source is 3x2:  0 1 2 / 3 4 5   (what PIL's ImageOps.exif_transpose produces for each tag
    // value)
    "1, 3, 2, '0,1,2,3,4,5'",
    "2, 3, 2, '2,1,0,5,4,3'",
    "3, 3, 2, '5,4,3,2,1,0'",
    "4, 3, 2, '3,4,5,0,1,2'",
    "5, 2, 3, '0,3,1,4,2,5'",
    "6, 2, 3, '3,0,4,1,5,2'",
    "7, 2, 3, '5,2,4,1,3,0'",
    "8, 2, 3, '2,5,1,4,0,3'",
  })
  void eachOrientationMapsPixelsLikePillowExifTranspose(
      int orientation, int w, int h, String expected) {
    DecodedImage src = DecodedImage.of(3, 2, DecodedImage.Mode.L, new byte[] {0, 1, 2, 3, 4, 5});
    DecodedImage out = ExifOrientation.apply(src, orientation);
    assertEquals(w, out.width());
    assertEquals(h, out.height());
    byte[] want = new byte[6];
    String[] parts = expected.split(",");
    for (int i = 0; i < 6; i++) want[i] = Byte.parseByte(parts[i]);
    assertArrayEquals(want, out.pixels());
  }
}
