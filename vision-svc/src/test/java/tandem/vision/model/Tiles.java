package tandem.vision.model;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Fixture tiles (exact uint8 RGB PNGs) → pixel values, the way the HF processor scales them. */
final class Tiles {
  private Tiles() {}

  static float[] pixelValues(Path... pngs) throws IOException {
    int s = 512;
    float[] out = new float[pngs.length * 3 * s * s];
    for (int t = 0; t < pngs.length; t++) {
      BufferedImage img = ImageIO.read(pngs[t].toFile());
      if (img.getWidth() != s || img.getHeight() != s)
        throw new IllegalStateException(pngs[t] + " is not 512x512");
      for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
          int rgb = img.getRGB(x, y);
          for (int c = 0; c < 3; c++) {
            int u8 = (rgb >>> (16 - 8 * c)) & 0xff;
            out[((t * 3 + c) * s + y) * s + x] = ((float) (u8 * (1.0 / 255.0)) - 0.5f) / 0.5f;
          }
        }
    }
    return out;
  }
}
