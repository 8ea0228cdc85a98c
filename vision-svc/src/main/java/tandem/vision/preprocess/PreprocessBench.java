package tandem.vision.preprocess;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * Preprocessing cost on the request path for a 1920×1080 JPEG (a phone-photo-sized input that
 * becomes 13 tiles with SmolVLM2's settings). The vision bench calls {@link #run}; {@code main}
 * prints one JSON line.
 */
public final class PreprocessBench {
  private PreprocessBench() {}

  /** Median milliseconds per image for each stage, and the tile count the image produced. */
  public record Result(
      int width,
      int height,
      int jpegBytes,
      int tiles,
      double decodeMs,
      double preprocessMs,
      double totalMs) {
    public String toJson() {
      return String.format(
          java.util.Locale.ROOT,
          "{\"width\":%d,\"height\":%d,\"jpeg_bytes\":%d,\"tiles\":%d,\"decode_ms\":%.2f,"
              + "\"preprocess_ms\":%.2f,\"total_ms\":%.2f}",
          width,
          height,
          jpegBytes,
          tiles,
          decodeMs,
          preprocessMs,
          totalMs);
    }
  }

  /**
   * A photo-like synthetic image (smooth gradients plus noise, so JPEG and LANCZOS do real work),
   * as JPEG bytes.
   */
  public static byte[] syntheticJpeg(int width, int height, long seed) {
    BufferedImage im = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
    Random r = new Random(seed);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int n = r.nextInt(32);
        int red = (x * 255 / width + n) & 0xff;
        int green = (y * 255 / height + n) & 0xff;
        int blue = ((x + y) * 127 / (width + height) + 64 + n) & 0xff;
        im.setRGB(x, y, red << 16 | green << 8 | blue);
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(im, "jpeg", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /**
   * Decode + preprocess {@code iterations} times after {@code warmup} untimed runs; medians per
   * stage.
   */
  public static Result run(PreprocessorConfig cfg, int warmup, int iterations)
      throws ImageDecodeException {
    byte[] jpeg = syntheticJpeg(1920, 1080, 42);
    ImageDecoder decoder = ImageDecoder.withDefaults();
    for (int i = 0; i < warmup; i++) SmolVlmImageProcessor.preprocess(decoder.decode(jpeg), cfg);
    double[] dec = new double[iterations];
    double[] pre = new double[iterations];
    int tiles = 0;
    for (int i = 0; i < iterations; i++) {
      long t0 = System.nanoTime();
      DecodedImage im = decoder.decode(jpeg);
      long t1 = System.nanoTime();
      tiles = SmolVlmImageProcessor.preprocess(im, cfg).tiles();
      long t2 = System.nanoTime();
      dec[i] = (t1 - t0) / 1e6;
      pre[i] = (t2 - t1) / 1e6;
    }
    double d = median(dec);
    double p = median(pre);
    return new Result(1920, 1080, jpeg.length, tiles, d, p, d + p);
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  public static void main(String[] args) throws Exception {
    int iterations = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    System.out.println(run(PreprocessorConfig.smolVlmDefaults(), 3, iterations).toJson());
  }
}
