package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tandem.common.testing.Fixtures;
import tandem.vision.preprocess.ImageDecodeException.Reason;

class ImageDecoderTest {
  private static final ImageDecoder DECODER = ImageDecoder.withDefaults();
  private static final Duration QUICK = Duration.ofSeconds(5);

  static byte[] encode(BufferedImage im, String format) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!ImageIO.write(im, format, out)) throw new IllegalStateException("no writer for " + format);
    return out.toByteArray();
  }

  static BufferedImage noise(int w, int h, int type, long seed) {
    BufferedImage im = new BufferedImage(w, h, type);
    Random r = new Random(seed);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) im.setRGB(x, y, r.nextInt());
    return im;
  }

  static ImageDecodeException refused(byte[] bytes, ImageDecoder decoder) {
    return assertTimeoutPreemptively(
        QUICK, () -> assertThrows(ImageDecodeException.class, () -> decoder.decode(bytes)));
  }

  // ------------------------------------------------------------ bad input

  @Test
  void textIsRefusedAsAnUnsupportedFormatThatNamesTheAllowedOnes() {
    ImageDecodeException e = refused("just some text".getBytes(), DECODER);
    assertEquals(Reason.UNSUPPORTED_FORMAT, e.reason());
    assertTrue(e.getMessage().contains("allowed: JPEG, PNG, GIF, BMP, WebP"), e.getMessage());
  }

  @Test
  void emptyInputIsRefused() {
    assertEquals(Reason.UNSUPPORTED_FORMAT, refused(new byte[0], DECODER).reason());
  }

  @Test
  void tiffIsRefusedByName() {
    byte[] tiff = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};
    ImageDecodeException e = refused(tiff, DECODER);
    assertEquals(Reason.UNSUPPORTED_FORMAT, e.reason());
    assertTrue(e.getMessage().contains("TIFF"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"png", "jpeg", "gif", "bmp"})
  void truncatedImagesAreRefusedAsCorrupt(String format) throws Exception {
    BufferedImage src =
        noise(
            200,
            150,
            format.equals("gif") ? BufferedImage.TYPE_BYTE_INDEXED : BufferedImage.TYPE_3BYTE_BGR,
            1);
    byte[] full = encode(src, format);
    byte[] cut = Arrays.copyOf(full, full.length / 2);
    ImageDecodeException e = refused(cut, DECODER);
    assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
    assertTrue(e.getMessage().startsWith("corrupt or truncated"), e.getMessage());
  }

  @Test
  void aBaselineJpegThatOnlyLacksItsEndMarkerDecodesCompletelyAsInPillow() throws Exception {
    byte[] full = encode(noise(64, 48, BufferedImage.TYPE_3BYTE_BGR, 16), "jpeg");
    byte[] noEoi = Arrays.copyOf(full, full.length - 2);
    assertArrayEquals(DECODER.decode(full).pixels(), DECODER.decode(noEoi).pixels());
  }

  @Test
  void aProgressiveJpegCutBetweenScansIsRefused() throws Exception {
    byte[] prog = JpegDecodeTest.resource("coffee_420_progressive.jpg");
    assertTrue(ImageDecoder.jpegIsProgressive(prog));
    assertTrue(!ImageDecoder.jpegIsProgressive(JpegDecodeTest.resource("coffee_420.jpg")));
    // cut right before the last scan's SOS marker: every byte before it is a complete scan
    int lastSos = -1;
    for (int i = 0; i + 1 < prog.length; i++)
      if (prog[i] == (byte) 0xFF && prog[i + 1] == (byte) 0xDA) lastSos = i;
    ImageDecodeException e = refused(Arrays.copyOf(prog, lastSos), DECODER);
    assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
  }

  @Test
  void garbageAfterAValidPngSignatureIsRefusedAsCorrupt() {
    byte[] b = new byte[4096];
    new Random(3).nextBytes(b);
    System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}, 0, b, 0, 8);
    assertEquals(Reason.CORRUPT, refused(b, DECODER).reason());
  }

  @Test
  void garbageAfterAJpegMarkerIsRefusedAsCorrupt() {
    byte[] b = new byte[4096];
    new Random(4).nextBytes(b);
    b[0] = (byte) 0xFF;
    b[1] = (byte) 0xD8;
    b[2] = (byte) 0xFF;
    assertEquals(Reason.CORRUPT, refused(b, DECODER).reason());
  }

  @Test
  void imagesOverTheByteLimitAreRefusedBeforeDecoding() throws Exception {
    byte[] png = encode(noise(64, 64, BufferedImage.TYPE_3BYTE_BGR, 5), "png");
    ImageDecoder small = new ImageDecoder(png.length - 1, 1_000_000, false);
    ImageDecodeException e = refused(png, small);
    assertEquals(Reason.TOO_MANY_BYTES, e.reason());
    assertTrue(e.getMessage().contains("limit is " + (png.length - 1)), e.getMessage());
  }

  /**
   * A PNG whose IHDR claims 100000 x 100000 pixels, with one tiny IDAT: a classic decompression
   * bomb header.
   */
  static byte[] bombPng() throws Exception {
    byte[] real = encode(noise(8, 8, BufferedImage.TYPE_3BYTE_BGR, 6), "png");
    byte[] b = real.clone();
    // IHDR data starts at 16: width (4 bytes BE), height (4 bytes BE); fix the CRC after it
    writeBe(b, 16, 100_000);
    writeBe(b, 20, 100_000);
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(b, 12, 4 + 13);
    writeBe(b, 29, (int) crc.getValue());
    return b;
  }

  /** A JPEG whose SOF header claims 60000 x 60000 pixels. */
  static byte[] bombJpeg() throws Exception {
    byte[] b = encode(noise(16, 16, BufferedImage.TYPE_3BYTE_BGR, 7), "jpeg");
    for (int i = 2; i + 9 < b.length; i++) {
      if ((b[i] & 0xff) == 0xFF && (b[i + 1] & 0xff) == 0xC0) {
        b[i + 5] = (byte) 0xEA; // height 60000 = 0xEA60
        b[i + 6] = (byte) 0x60;
        b[i + 7] = (byte) 0xEA;
        b[i + 8] = (byte) 0x60;
        return b;
      }
    }
    throw new IllegalStateException("no SOF0 in the test JPEG");
  }

  static void writeBe(byte[] b, int at, int v) {
    b[at] = (byte) (v >>> 24);
    b[at + 1] = (byte) (v >>> 16);
    b[at + 2] = (byte) (v >>> 8);
    b[at + 3] = (byte) v;
  }

  @Test
  void aPngBombIsRefusedFromItsHeaderWithoutDecoding() throws Exception {
    ImageDecodeException e = refused(bombPng(), DECODER);
    assertEquals(Reason.TOO_MANY_PIXELS, e.reason(), e.getMessage());
    assertTrue(e.getMessage().contains("100000x100000"), e.getMessage());
  }

  @Test
  void aJpegBombIsRefusedFromItsHeaderWithoutDecoding() throws Exception {
    ImageDecodeException e = refused(bombJpeg(), DECODER);
    assertEquals(Reason.TOO_MANY_PIXELS, e.reason(), e.getMessage());
    assertTrue(e.getMessage().contains("60000x60000"), e.getMessage());
  }

  @Test
  void probeReadsTheSizeFromTheHeaderAndAppliesTheSameLimits() throws Exception {
    byte[] png = encode(noise(31, 9, BufferedImage.TYPE_3BYTE_BGR, 14), "png");
    assertEquals(new ImageDecoder.Header(ImageDecoder.Format.PNG, 31, 9), DECODER.probe(png));
    ImageDecodeException e =
        assertTimeoutPreemptively(
            QUICK, () -> assertThrows(ImageDecodeException.class, () -> DECODER.probe(bombPng())));
    assertEquals(Reason.TOO_MANY_PIXELS, e.reason());
  }

  @Test
  void aJpegMadeOfThousandsOfScansIsRefusedBeforeDecoding() throws Exception {
    byte[] real = encode(noise(16, 16, BufferedImage.TYPE_3BYTE_BGR, 15), "jpeg");
    assertEquals(1, ImageDecoder.jpegScanCount(real));
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    out.write(real, 0, real.length - 2); // without EOI
    for (int i = 0; i < 300; i++)
      out.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0x55});
    out.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xD9});
    ImageDecodeException e = refused(out.toByteArray(), DECODER);
    assertEquals(Reason.CORRUPT, e.reason());
    assertTrue(e.getMessage().contains("301 scans"), e.getMessage());
  }

  @Test
  void thePixelLimitIsInclusive() throws Exception {
    byte[] png = encode(noise(10, 10, BufferedImage.TYPE_3BYTE_BGR, 8), "png");
    assertEquals(100, new ImageDecoder(1 << 20, 100, false).decode(png).pixels().length / 3);
    assertEquals(
        Reason.TOO_MANY_PIXELS, refused(png, new ImageDecoder(1 << 20, 99, false)).reason());
  }

  // ------------------------------------------------------------ formats and modes

  @Test
  void rgbPngAndBmpDecodeToTheExactSamplesInRgbOrder() throws Exception {
    BufferedImage src = noise(33, 17, BufferedImage.TYPE_3BYTE_BGR, 9);
    for (String f : new String[] {"png", "bmp"}) {
      DecodedImage d = DECODER.decode(encode(src, f));
      assertEquals(DecodedImage.Mode.RGB, d.mode(), f);
      assertArrayEquals(rgb(src), d.pixels(), f);
    }
  }

  @Test
  void rgbaPngKeepsItsAlphaChannel() throws Exception {
    BufferedImage src = new BufferedImage(9, 5, BufferedImage.TYPE_4BYTE_ABGR);
    Random r = new Random(10);
    for (int y = 0; y < 5; y++) for (int x = 0; x < 9; x++) src.setRGB(x, y, r.nextInt());
    DecodedImage d = DECODER.decode(encode(src, "png"));
    assertEquals(DecodedImage.Mode.RGBA, d.mode());
    for (int y = 0; y < 5; y++) {
      for (int x = 0; x < 9; x++) {
        int argb = src.getRGB(x, y);
        int o = (y * 9 + x) * 4;
        assertArrayEquals(
            new byte[] {(byte) (argb >> 16), (byte) (argb >> 8), (byte) argb, (byte) (argb >>> 24)},
            Arrays.copyOfRange(d.pixels(), o, o + 4));
      }
    }
  }

  static BufferedImage paletted(int w, int h) {
    byte[] r = new byte[16], g = new byte[16], b = new byte[16];
    for (int i = 0; i < 16; i++) {
      r[i] = (byte) (i * 16);
      g[i] = (byte) (255 - i * 7);
      b[i] = (byte) (i * 3);
    }
    BufferedImage im =
        new BufferedImage(
            w, h, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 16, r, g, b));
    WritableRaster ras = im.getRaster();
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) ras.setSample(x, y, 0, (x * 7 + y * 3) % 16);
    return im;
  }

  @ParameterizedTest
  @ValueSource(strings = {"png", "gif"})
  void palettedImagesDecodeToIndicesPlusTheirPaletteLikePillowModeP(String format)
      throws Exception {
    BufferedImage src = paletted(21, 13);
    DecodedImage d = DECODER.decode(encode(src, format));
    assertEquals(DecodedImage.Mode.P, d.mode());
    for (int y = 0; y < 13; y++) {
      for (int x = 0; x < 21; x++) {
        int idx = d.pixels()[y * 21 + x] & 0xff;
        assertEquals(src.getRGB(x, y) & 0xFFFFFF, d.palette()[idx], "pixel " + x + "," + y);
      }
    }
  }

  @Test
  void aGifFrameSmallerThanItsLogicalScreenIsPlacedOnTheScreenLikePillow() throws Exception {
    BufferedImage src = paletted(21, 13);
    byte[] gif = encode(src, "gif");
    DecodedImage frameOnly = DECODER.decode(gif);
    assertEquals(21, frameOnly.width());
    byte[] wider = gif.clone();
    wider[6] = 30; // logical screen 30 x 20, little-endian
    wider[7] = 0;
    wider[8] = 20;
    wider[9] = 0;
    DecodedImage d = DECODER.decode(wider);
    assertEquals(30, d.width());
    assertEquals(20, d.height());
    for (int y = 0; y < 20; y++) {
      for (int x = 0; x < 30; x++) {
        int want = x < 21 && y < 13 ? frameOnly.pixels()[y * 21 + x] : 0;
        assertEquals(want, d.pixels()[y * 30 + x], "pixel " + x + "," + y);
      }
    }
  }

  @Test
  void aPalettedImageIsResizedByIndexWithNearestAndThenColouredThroughItsPalette()
      throws Exception {
    DecodedImage p = DECODER.decode(encode(paletted(21, 13), "png"));
    PreprocessorConfig cfg = PreprocessorConfig.smolVlmDefaults();
    SmolVlmImageProcessor.Processed out = SmolVlmImageProcessor.preprocess(p, cfg, true);
    // the same indices as a grey image go through the identical NEAREST path; map them afterwards
    DecodedImage asGrey = DecodedImage.of(p.width(), p.height(), DecodedImage.Mode.L, p.pixels());
    SmolVlmImageProcessor.Processed grey = SmolVlmImageProcessor.preprocess(asGrey, cfg, true);
    assertEquals(grey.tiles(), out.tiles());
    for (int t = 0; t < out.tiles(); t++) {
      byte[] g = grey.tilesU8()[t];
      byte[] c = out.tilesU8()[t];
      for (int i = 0; i < g.length; i += 3) {
        int rgb = p.palette()[g[i] & 0xff];
        assertEquals(rgb, ((c[i] & 0xff) << 16) | ((c[i + 1] & 0xff) << 8) | (c[i + 2] & 0xff));
      }
    }
  }

  @Test
  void greyPngAndSixteenBitGreyKeepTheHighByte() throws Exception {
    BufferedImage g8 = noise(11, 7, BufferedImage.TYPE_BYTE_GRAY, 11);
    DecodedImage d8 = DECODER.decode(encode(g8, "png"));
    assertEquals(DecodedImage.Mode.L, d8.mode());
    assertArrayEquals(
        ((java.awt.image.DataBufferByte) g8.getRaster().getDataBuffer()).getData(), d8.pixels());

    BufferedImage g16 = new BufferedImage(5, 3, BufferedImage.TYPE_USHORT_GRAY);
    for (int i = 0; i < 15; i++) g16.getRaster().setSample(i % 5, i / 5, 0, i * 4000 + 255);
    DecodedImage d16 = DECODER.decode(encode(g16, "png"));
    assertEquals(DecodedImage.Mode.L, d16.mode());
    for (int i = 0; i < 15; i++) assertEquals((i * 4000 + 255) >> 8, d16.pixels()[i] & 0xff);
  }

  @Test
  void greyWithAlphaBecomesRgbaWithTheGreyReplicated() throws Exception {
    ComponentColorModel cm =
        new ComponentColorModel(
            ColorSpace.getInstance(ColorSpace.CS_GRAY),
            true,
            false,
            Transparency.TRANSLUCENT,
            DataBuffer.TYPE_BYTE);
    WritableRaster ras = cm.createCompatibleWritableRaster(4, 2);
    for (int i = 0; i < 8; i++) {
      ras.setSample(i % 4, i / 4, 0, i * 30);
      ras.setSample(i % 4, i / 4, 1, 255 - i * 20);
    }
    DecodedImage d = DECODER.decode(encode(new BufferedImage(cm, ras, false, null), "png"));
    assertEquals(DecodedImage.Mode.RGBA, d.mode());
    for (int i = 0; i < 8; i++) {
      assertArrayEquals(
          new byte[] {(byte) (i * 30), (byte) (i * 30), (byte) (i * 30), (byte) (255 - i * 20)},
          Arrays.copyOfRange(d.pixels(), i * 4, i * 4 + 4));
    }
  }

  /**
   * A hand-made 8-bit PNG of colour type 0 or 2 with a tRNS chunk (ImageIO's writer cannot make
   * one).
   */
  static byte[] pngWithTrns(int colourType, int w, int h, byte[] samples, byte[] trns)
      throws Exception {
    java.io.ByteArrayOutputStream bo = new java.io.ByteArrayOutputStream();
    java.io.DataOutputStream o = new java.io.DataOutputStream(bo);
    o.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
    java.nio.ByteBuffer ihdr =
        java.nio.ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) colourType);
    chunk(o, "IHDR", ihdr.array());
    chunk(o, "tRNS", trns);
    int ch = colourType == 2 ? 3 : 1;
    java.io.ByteArrayOutputStream raw = new java.io.ByteArrayOutputStream();
    for (int y = 0; y < h; y++) {
      raw.write(0); // filter: none
      raw.write(samples, y * w * ch, w * ch);
    }
    java.util.zip.Deflater df = new java.util.zip.Deflater();
    df.setInput(raw.toByteArray());
    df.finish();
    byte[] buf = new byte[raw.size() + 64];
    chunk(o, "IDAT", Arrays.copyOf(buf, df.deflate(buf)));
    chunk(o, "IEND", new byte[0]);
    return bo.toByteArray();
  }

  static void chunk(java.io.DataOutputStream o, String type, byte[] data) throws IOException {
    o.writeInt(data.length);
    o.write(type.getBytes());
    o.write(data);
    java.util.zip.CRC32 c = new java.util.zip.CRC32();
    c.update(type.getBytes());
    c.update(data);
    o.writeInt((int) c.getValue());
  }

  @Test
  void anRgbPngWithATransparentColourStaysRgbLikePillow() throws Exception {
    byte[] px = {10, 20, 30, 1, 2, 3, 10, 20, 30, 4, 5, 6};
    DecodedImage d = DECODER.decode(pngWithTrns(2, 2, 2, px, new byte[] {0, 10, 0, 20, 0, 30}));
    assertEquals(DecodedImage.Mode.RGB, d.mode());
    assertArrayEquals(px, d.pixels());
  }

  @Test
  void aGreyPngWithATransparentLevelStaysGreyLikePillow() throws Exception {
    byte[] px = {10, 11, 12, 10, 14, 15};
    DecodedImage d = DECODER.decode(pngWithTrns(0, 3, 2, px, new byte[] {0, 10}));
    assertEquals(DecodedImage.Mode.L, d.mode());
    assertArrayEquals(px, d.pixels());
  }

  @Test
  void colourJpegDecodesToRgbCloseToItsSource() throws Exception {
    BufferedImage src = new BufferedImage(64, 48, BufferedImage.TYPE_3BYTE_BGR);
    for (int y = 0; y < 48; y++)
      for (int x = 0; x < 64; x++) src.setRGB(x, y, (x * 4) << 16 | (y * 5) << 8 | 128);
    DecodedImage d = DECODER.decode(encode(src, "jpeg"));
    assertEquals(DecodedImage.Mode.RGB, d.mode());
    byte[] want = rgb(src);
    int max = 0;
    for (int i = 0; i < want.length; i++)
      max = Math.max(max, Math.abs((want[i] & 0xff) - (d.pixels()[i] & 0xff)));
    assertTrue(max < 24, "max |diff| " + max); // lossy, but channels in the right order
  }

  @Test
  void theFixtureJpegIsDecodedAsPillowModeL() throws Exception {
    DecodedImage d =
        DECODER.decode(Files.readAllBytes(Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg")));
    assertEquals(DecodedImage.Mode.L, d.mode());
    assertEquals(384, d.width());
    assertEquals(120, d.height());
  }

  // ------------------------------------------------------------ EXIF orientation

  /** Inserts an Exif APP1 segment with the given orientation right after SOI. */
  static byte[] withExifOrientation(byte[] jpeg, int orientation, boolean bigEndian) {
    byte[] tiff =
        bigEndian
            ? new byte[] {
              'M',
              'M',
              0,
              42,
              0,
              0,
              0,
              8,
              0,
              1,
              0x01,
              0x12,
              0,
              3,
              0,
              0,
              0,
              1,
              0,
              (byte) orientation,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0
            }
            : new byte[] {
              'I',
              'I',
              42,
              0,
              8,
              0,
              0,
              0,
              1,
              0,
              0x12,
              0x01,
              3,
              0,
              1,
              0,
              0,
              0,
              (byte) orientation,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0
            };
    int len = 2 + 6 + tiff.length;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(jpeg, 0, 2);
    out.write(0xFF);
    out.write(0xE1);
    out.write(len >> 8);
    out.write(len & 0xff);
    out.writeBytes(new byte[] {'E', 'x', 'i', 'f', 0, 0});
    out.writeBytes(tiff);
    out.write(jpeg, 2, jpeg.length - 2);
    return out.toByteArray();
  }

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void exifOrientationIsReadInBothByteOrders(boolean bigEndian) throws Exception {
    byte[] jpeg = encode(noise(8, 8, BufferedImage.TYPE_3BYTE_BGR, 12), "jpeg");
    for (int o = 1; o <= 8; o++)
      assertEquals(o, ExifOrientation.read(withExifOrientation(jpeg, o, bigEndian)));
    assertEquals(1, ExifOrientation.read(jpeg));
  }

  @Test
  void byDefaultExifOrientationIsIgnoredLikeTheReferencePipeline() throws Exception {
    byte[] jpeg = encode(noise(40, 20, BufferedImage.TYPE_3BYTE_BGR, 13), "jpeg");
    byte[] rotated = withExifOrientation(jpeg, 6, false);
    DecodedImage plain = DECODER.decode(jpeg);
    DecodedImage ignored = DECODER.decode(rotated);
    assertEquals(40, ignored.width());
    assertArrayEquals(plain.pixels(), ignored.pixels());
  }

  @Test
  void whenAskedTheDecoderTurnsAnOrientation6PhotoUpright() throws Exception {
    byte[] jpeg = encode(noise(40, 20, BufferedImage.TYPE_3BYTE_BGR, 13), "jpeg");
    DecodedImage plain = DECODER.decode(jpeg);
    DecodedImage upright =
        DECODER.withExifOrientation(true).decode(withExifOrientation(jpeg, 6, true));
    assertEquals(20, upright.width());
    assertEquals(40, upright.height());
    assertArrayEquals(ExifOrientation.apply(plain, 6).pixels(), upright.pixels());
  }

  static byte[] rgb(BufferedImage im) {
    byte[] out = new byte[im.getWidth() * im.getHeight() * 3];
    int i = 0;
    for (int y = 0; y < im.getHeight(); y++) {
      for (int x = 0; x < im.getWidth(); x++) {
        int v = im.getRGB(x, y);
        out[i++] = (byte) (v >> 16);
        out[i++] = (byte) (v >> 8);
        out[i++] = (byte) v;
      }
    }
    return out;
  }
}
