package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Hostile image bytes through the decoder and the preprocessor: random bytes, valid
 * PNG/JPEG/GIF/BMP files with bytes flipped, cut or spliced, and headers that claim huge sizes. The
 * only failure allowed is the decoder's own {@link ImageDecodeException} (which vision-svc turns
 * into INVALID_ARGUMENT); anything else — a runtime exception, an {@link Error}, a slow decode — is
 * a bug. What decodes must also preprocess without throwing.
 *
 * <p>The number of tries per property comes from {@code jqwik.tries.default} (small in {@code
 * junit-platform.properties} so CI takes seconds); a long run is {@code ./mvnw -B -pl vision-svc
 * -am verify -Dtest='ImageFuzz*' -Dsurefire.failIfNoSpecifiedTests=false
 * -Djqwik.tries.default=20000}.
 */
class ImageFuzzTest {
  /**
   * Smaller pixel limit than production so a mutated header cannot make a test allocate gigabytes.
   */
  private static final ImageDecoder DECODER = new ImageDecoder(4 << 20, 4_000_000, false);

  private static final PreprocessorConfig CFG = PreprocessorConfig.smolVlmDefaults();

  /**
   * Far above a legitimate decode of a small image on a loaded 2-core machine; catches hangs and
   * quadratic blowups.
   */
  private static final long SLOW_NANOS = 3_000_000_000L;

  static final AtomicLong inputs = new AtomicLong();
  static final AtomicLong decoded = new AtomicLong();

  private static final List<byte[]> SEEDS = seeds();

  static byte[] encode(BufferedImage im, String format) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      if (!ImageIO.write(im, format, out))
        throw new IllegalStateException("no writer for " + format);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<byte[]> seeds() {
    List<byte[]> s = new ArrayList<>();
    Random r = new Random(7);
    int[][] sizes = {{1, 1}, {7, 5}, {33, 20}};
    for (int[] wh : sizes) {
      BufferedImage rgb = new BufferedImage(wh[0], wh[1], BufferedImage.TYPE_3BYTE_BGR);
      BufferedImage grey = new BufferedImage(wh[0], wh[1], BufferedImage.TYPE_BYTE_GRAY);
      BufferedImage argb = new BufferedImage(wh[0], wh[1], BufferedImage.TYPE_INT_ARGB);
      BufferedImage idx = new BufferedImage(wh[0], wh[1], BufferedImage.TYPE_BYTE_INDEXED);
      for (int y = 0; y < wh[1]; y++) {
        for (int x = 0; x < wh[0]; x++) {
          rgb.setRGB(x, y, r.nextInt());
          grey.setRGB(x, y, r.nextInt());
          argb.setRGB(x, y, r.nextInt());
          idx.setRGB(x, y, r.nextInt());
        }
      }
      s.add(encode(rgb, "png"));
      s.add(encode(argb, "png"));
      s.add(encode(grey, "png"));
      s.add(encode(rgb, "jpeg"));
      s.add(encode(grey, "jpeg"));
      s.add(encode(idx, "gif"));
      s.add(encode(rgb, "bmp"));
    }
    return s;
  }

  /**
   * Decodes (and preprocesses what decodes); fails on anything but ImageDecodeException or on a
   * slow input.
   */
  static void mustOnlyRefuseCleanly(byte[] bytes) {
    inputs.incrementAndGet();
    long t0 = System.nanoTime();
    try {
      DecodedImage im = DECODER.decode(bytes);
      decoded.incrementAndGet();
      assertTrue(im.width() > 0 && im.height() > 0, "decoded an empty image");
      SmolVlmImageProcessor.preprocess(im, CFG);
    } catch (ImageDecodeException e) {
      assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "refusal without a message");
    } catch (Throwable t) {
      fail("input of " + bytes.length + " bytes (head " + hex(bytes, 24) + ") threw " + t, t);
    }
    long took = System.nanoTime() - t0;
    if (took > SLOW_NANOS)
      fail(
          "input of "
              + bytes.length
              + " bytes took "
              + took / 1_000_000
              + " ms: "
              + hex(bytes, 64));
  }

  static String hex(byte[] b, int n) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < Math.min(n, b.length); i++) sb.append(String.format("%02x", b[i] & 0xff));
    return sb.toString();
  }

  // ------------------------------------------------------------ properties

  @Property
  void randomBytesAreRefusedCleanly(@ForAll("randomBytes") byte[] bytes) {
    mustOnlyRefuseCleanly(bytes);
  }

  @Property
  void mutatedValidImagesDecodeOrAreRefusedCleanly(@ForAll("mutated") byte[] bytes) {
    mustOnlyRefuseCleanly(bytes);
  }

  @Property
  void headersClaimingHugeSizesAreRefusedCleanlyAndQuickly(@ForAll("hugeHeaders") byte[] bytes) {
    mustOnlyRefuseCleanly(bytes);
  }

  @AfterContainer
  static void report() {
    System.out.println(
        "ImageFuzzTest: " + inputs.get() + " inputs fuzzed, " + decoded.get() + " decoded");
  }

  // ------------------------------------------------------------ generators

  @Provide
  Arbitrary<byte[]> randomBytes() {
    Arbitrary<byte[]> plain = Arbitraries.bytes().array(byte[].class).ofMaxSize(512);
    // random tails behind each real magic number so the format-specific readers are reached
    Arbitrary<byte[]> magic =
        Combinators.combine(
                Arbitraries.of(
                    new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF},
                    new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A},
                    new byte[] {'G', 'I', 'F', '8', '9', 'a'},
                    new byte[] {'B', 'M'},
                    new byte[] {
                      'R', 'I', 'F', 'F', 0x40, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'
                    }),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(512))
            .as(ImageFuzzTest::concat);
    return Arbitraries.oneOf(plain, magic);
  }

  @Provide
  Arbitrary<byte[]> mutated() {
    Arbitrary<byte[]> seed = Arbitraries.of(SEEDS);
    Arbitrary<Long> rnd = Arbitraries.longs();
    Arbitrary<Integer> op = Arbitraries.integers().between(0, 4);
    Arbitrary<Integer> count = Arbitraries.integers().between(1, 8);
    return Combinators.combine(seed, rnd, op, count).as(ImageFuzzTest::mutate);
  }

  /**
   * Bit flips, byte overwrites with interesting values, truncation, chunk duplication, insertion.
   */
  static byte[] mutate(byte[] src, long seed, int op, int count) {
    Random r = new Random(seed);
    byte[] b = src.clone();
    byte[] interesting = {0, 1, (byte) 0x7F, (byte) 0x80, (byte) 0xFF, (byte) 0xFE, 0x10, 0x40};
    switch (op) {
      case 0 -> {
        for (int i = 0; i < count; i++) {
          int p = r.nextInt(b.length);
          b[p] ^= (byte) (1 << r.nextInt(8));
        }
      }
      case 1 -> {
        for (int i = 0; i < count; i++)
          b[r.nextInt(b.length)] = interesting[r.nextInt(interesting.length)];
      }
      case 2 -> b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
      case 3 -> {
        int from = r.nextInt(b.length);
        int len = 1 + r.nextInt(Math.min(64, b.length - from));
        int at = r.nextInt(b.length);
        byte[] out = new byte[b.length + len];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(b, from, out, at, len);
        System.arraycopy(b, at, out, at + len, b.length - at);
        b = out;
      }
      default -> {
        // overwrite a header region (first 64 bytes) where sizes and lengths live
        for (int i = 0; i < count; i++) b[r.nextInt(Math.min(64, b.length))] = (byte) r.nextInt();
      }
    }
    return b;
  }

  @Provide
  Arbitrary<byte[]> hugeHeaders() {
    Arbitrary<Integer> w = Arbitraries.integers().between(0, Integer.MAX_VALUE);
    Arbitrary<Integer> h = Arbitraries.integers().between(0, Integer.MAX_VALUE);
    Arbitrary<String> fmt = Arbitraries.of("png", "gif", "bmp", "jpeg");
    return Combinators.combine(fmt, w, h).as(ImageFuzzTest::withClaimedSize);
  }

  /**
   * A small valid file whose header is rewritten to claim {@code w x h}; the pixel data stays tiny.
   */
  static byte[] withClaimedSize(String fmt, int w, int h) {
    BufferedImage im =
        new BufferedImage(
            4,
            3,
            fmt.equals("gif") ? BufferedImage.TYPE_BYTE_INDEXED : BufferedImage.TYPE_3BYTE_BGR);
    byte[] b = encode(im, fmt);
    switch (fmt) {
      case "png" -> { // IHDR data starts at 16 (8 signature + 4 length + 4 type); CRC left stale on
        // purpose
        putBe32(b, 16, w);
        putBe32(b, 20, h);
      }
      case "gif" -> { // logical screen at 6, first image descriptor after the colour table
        putLe16(b, 6, w);
        putLe16(b, 8, h);
        for (int i = 13; i + 9 < b.length; i++) {
          if (b[i] == 0x2C) {
            putLe16(b, i + 5, w);
            putLe16(b, i + 7, h);
            break;
          }
        }
      }
      case "bmp" -> { // BITMAPINFOHEADER width/height at 18/22, little-endian, height may be
        // negative (top-down)
        putLe32(b, 18, w);
        putLe32(b, 22, (h & 1) == 0 ? h : -h);
      }
      default -> { // JPEG SOF0: FFC0 len(2) precision(1) height(2) width(2)
        for (int i = 2; i + 8 < b.length; i++) {
          if ((b[i] & 0xff) == 0xFF && (b[i + 1] & 0xff) == 0xC0) {
            putBe16(b, i + 5, h);
            putBe16(b, i + 7, w);
            break;
          }
        }
      }
    }
    return b;
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  static void putBe32(byte[] b, int p, int v) {
    b[p] = (byte) (v >>> 24);
    b[p + 1] = (byte) (v >>> 16);
    b[p + 2] = (byte) (v >>> 8);
    b[p + 3] = (byte) v;
  }

  static void putBe16(byte[] b, int p, int v) {
    b[p] = (byte) (v >>> 8);
    b[p + 1] = (byte) v;
  }

  static void putLe16(byte[] b, int p, int v) {
    b[p] = (byte) v;
    b[p + 1] = (byte) (v >>> 8);
  }

  static void putLe32(byte[] b, int p, int v) {
    putLe16(b, p, v);
    putLe16(b, p + 2, v >>> 16);
  }
}
