package tandem.vision.preprocess;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import tandem.vision.config.VisionSettings;
import tandem.vision.preprocess.ImageDecodeException.Reason;

/**
 * Encoded image bytes → {@link DecodedImage}, giving what {@code PIL.Image.open(...)} gives: mode
 * L, P (palette indices + palette), RGB or RGBA, 8 bits per sample, raw samples with no colour
 * management.
 *
 * <p>Formats: JPEG (baseline and progressive; the JDK's libjpeg-6b-derived decoder gives the same
 * bytes as libjpeg-turbo with Pillow's settings, checked for grey and 4:2:0/4:2:2/4:4:0/4:4:4
 * colour), PNG, GIF (first frame), BMP, WebP (TwelveMonkeys; lossless is bit-exact with libwebp,
 * lossy is not — see docs/vision-svc.md). Others are refused with {@link
 * Reason#UNSUPPORTED_FORMAT}. Limits are checked before any pixel is decoded: the byte count first,
 * then width × height read from the header (a decompression bomb is refused without allocating its
 * pixels).
 *
 * <p>EXIF orientation is <b>not</b> applied by default, exactly like the reference (HF's processor
 * on {@code PIL.Image.open}, which does not transpose). {@link #withExifOrientation(boolean)} turns
 * it on for callers that want upright photos at the price of differing from the reference.
 */
public final class ImageDecoder {
  private final long maxBytes;
  private final long maxPixels;
  private final boolean applyExifOrientation;

  public ImageDecoder(long maxBytes, long maxPixels, boolean applyExifOrientation) {
    if (maxBytes <= 0 || maxPixels <= 0)
      throw new IllegalArgumentException("limits must be positive");
    this.maxBytes = maxBytes;
    this.maxPixels = maxPixels;
    this.applyExifOrientation = applyExifOrientation;
  }

  /**
   * vision-svc's default limits ({@link VisionSettings}), no EXIF rotation: for tools that decode
   * as it does.
   */
  public static ImageDecoder withDefaults() {
    return new ImageDecoder(
        VisionSettings.MAX_IMAGE_BYTES.defaultValue(),
        VisionSettings.MAX_IMAGE_PIXELS.defaultValue(),
        false);
  }

  public ImageDecoder withExifOrientation(boolean apply) {
    return new ImageDecoder(maxBytes, maxPixels, apply);
  }

  public long maxBytes() {
    return maxBytes;
  }

  public long maxPixels() {
    return maxPixels;
  }

  /**
   * Container format, sniffed from the magic bytes (never from a file name or a client-supplied
   * type).
   */
  public enum Format {
    JPEG("jpeg"),
    PNG("png"),
    GIF("gif"),
    BMP("bmp"),
    WEBP("webp");

    final String imageIoName;

    Format(String imageIoName) {
      this.imageIoName = imageIoName;
    }
  }

  static final String ALLOWED = "JPEG, PNG, GIF, BMP, WebP";

  /**
   * Sniffs the format; throws UNSUPPORTED_FORMAT with what the bytes look like and what is allowed.
   */
  public static Format sniff(byte[] b) throws ImageDecodeException {
    if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF)
      return Format.JPEG;
    if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G')
      return Format.PNG;
    if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8')
      return Format.GIF;
    if (b.length >= 2 && b[0] == 'B' && b[1] == 'M') return Format.BMP;
    if (b.length >= 16
        && b[0] == 'R'
        && b[1] == 'I'
        && b[2] == 'F'
        && b[3] == 'F'
        && b[8] == 'W'
        && b[9] == 'E'
        && b[10] == 'B'
        && b[11] == 'P') {
      return Format.WEBP;
    }
    String what = "unknown data";
    if (b.length >= 4
        && ((b[0] == 'I' && b[1] == 'I' && b[2] == 42)
            || (b[0] == 'M' && b[1] == 'M' && b[3] == 42))) {
      what = "TIFF";
    } else if (b.length >= 12 && b[4] == 'f' && b[5] == 't' && b[6] == 'y' && b[7] == 'p') {
      what = "HEIF/AVIF";
    } else if (b.length == 0) {
      what = "empty input";
    }
    throw new ImageDecodeException(
        Reason.UNSUPPORTED_FORMAT,
        "not a supported image: " + what + " (allowed: " + ALLOWED + ")");
  }

  /** Format and size from the header alone. */
  public record Header(Format format, int width, int height) {}

  /**
   * Reads only the header: format, width and height, with the same byte and pixel limits as {@link
   * #decode}. Cheap (no pixel is decoded), so a caller can compute the tile grid or refuse an image
   * before queueing it.
   */
  public Header probe(byte[] bytes) throws ImageDecodeException {
    checkBytes(bytes);
    Format format = sniff(bytes);
    ImageReader reader = reader(format);
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
      reader.setInput(in, true, true);
      Header h = header(reader, format);
      return format == Format.GIF ? onLogicalScreen(h, bytes) : h;
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw corrupt(format, e);
    } finally {
      reader.dispose();
    }
  }

  /**
   * Most scans a JPEG may have. Real progressive files have about 10; a file made of thousands of
   * tiny scans makes every decoder redo the whole coefficient buffer per scan (a known
   * CPU-exhaustion trick), so it is refused.
   */
  static final int MAX_JPEG_SCANS = 256;

  /**
   * Counts SOS markers: inside entropy-coded data 0xFF is always stuffed with 0x00, so FF DA is
   * only ever a marker.
   */
  static int jpegScanCount(byte[] b) {
    int n = 0;
    for (int i = 0; i + 1 < b.length; i++) {
      if (b[i] == (byte) 0xFF && b[i + 1] == (byte) 0xDA) n++;
    }
    return n;
  }

  private static void checkJpegScans(byte[] b) throws ImageDecodeException {
    int scans = jpegScanCount(b);
    if (scans > MAX_JPEG_SCANS) {
      throw new ImageDecodeException(
          Reason.CORRUPT,
          "JPEG has "
              + scans
              + " scans, the limit is "
              + MAX_JPEG_SCANS
              + " (real files have about 10)");
    }
  }

  /**
   * TwelveMonkeys decodes a cut-off WebP without complaint; the RIFF header says how long the file
   * must be.
   */
  private static void checkRiffLength(byte[] b) throws ImageDecodeException {
    long riff = (b[4] & 0xffL) | (b[5] & 0xffL) << 8 | (b[6] & 0xffL) << 16 | (b[7] & 0xffL) << 24;
    if (riff + 8 > b.length) {
      throw new ImageDecodeException(
          Reason.CORRUPT,
          "corrupt or truncated WEBP: RIFF header says " + (riff + 8) + " bytes, got " + b.length);
    }
  }

  private void checkBytes(byte[] bytes) throws ImageDecodeException {
    if (bytes.length > maxBytes) {
      throw new ImageDecodeException(
          Reason.TOO_MANY_BYTES, "image is " + bytes.length + " bytes, the limit is " + maxBytes);
    }
  }

  /**
   * The JDK's own reader for JPEG/PNG/GIF/BMP (its JPEG decoder is the one shown to match
   * libjpeg-turbo; a plugin on the classpath must not displace it), TwelveMonkeys' for WebP.
   */
  private static ImageReader reader(Format format) throws ImageDecodeException {
    Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format.imageIoName);
    ImageReader first = null;
    while (readers.hasNext()) {
      ImageReader r = readers.next();
      if (format == Format.WEBP || r.getClass().getName().startsWith("com.sun.imageio.")) return r;
      if (first == null) first = r;
    }
    if (first == null) {
      throw new ImageDecodeException(
          Reason.UNSUPPORTED_FORMAT, "no " + format + " reader in this JVM");
    }
    return first;
  }

  private Header header(ImageReader reader, Format format)
      throws IOException, ImageDecodeException {
    int w = reader.getWidth(0);
    int h = reader.getHeight(0);
    if (w <= 0 || h <= 0)
      throw new ImageDecodeException(Reason.CORRUPT, format + " header has size " + w + "x" + h);
    if ((long) w * h > maxPixels) {
      throw new ImageDecodeException(
          Reason.TOO_MANY_PIXELS,
          format
              + " image is "
              + w
              + "x"
              + h
              + " = "
              + (long) w * h
              + " pixels, the limit is "
              + maxPixels);
    }
    return new Header(format, w, h);
  }

  private static ImageDecodeException corrupt(Format format, Exception e) {
    String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    if (format == Format.JPEG && msg.contains("Unsupported Image Type")) {
      return new ImageDecodeException(
          Reason.UNSUPPORTED_FORMAT, "CMYK/YCCK JPEG is not supported (use RGB or greyscale)", e);
    }
    return new ImageDecodeException(
        Reason.CORRUPT, "corrupt or truncated " + format + ": " + msg, e);
  }

  /** Decodes the bytes or throws {@link ImageDecodeException}; never returns null. */
  public DecodedImage decode(byte[] bytes) throws ImageDecodeException {
    checkBytes(bytes);
    Format format = sniff(bytes);
    if (format == Format.WEBP) checkRiffLength(bytes);
    if (format == Format.JPEG) checkJpegScans(bytes);
    ImageReader reader = reader(format);
    List<String> warnings = new ArrayList<>();
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
      reader.setInput(in, true, true);
      // JPEG reports truncation ("Premature end of JPEG file") as a warning and returns grey; we
      // refuse instead
      reader.addIIOReadWarningListener((r, w) -> warnings.add(w));
      header(reader, format);
      ImageReadParam param = reader.getDefaultReadParam();
      BufferedImage bi = reader.read(0, param);
      String fatal = fatalWarning(format, warnings, bytes);
      if (fatal != null) {
        throw new ImageDecodeException(
            Reason.CORRUPT, "corrupt or truncated " + format + ": " + fatal);
      }
      DecodedImage im = fromBuffered(bi, format == Format.PNG && pngHasNoAlphaChannel(bytes));
      if (format == Format.GIF && im.mode() == DecodedImage.Mode.P) im = onLogicalScreen(im, bytes);
      if (applyExifOrientation && format == Format.JPEG) {
        im = ExifOrientation.apply(im, ExifOrientation.read(bytes));
      }
      return im;
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw corrupt(format, e);
    } finally {
      reader.dispose();
    }
  }

  /**
   * Which decoder warnings mean the image is incomplete. Pillow refuses a truncated image ("image
   * file is truncated") but decodes through libjpeg's other warnings (extraneous bytes, bad ICC
   * data, thumbnails), and a baseline JPEG that only lacks its EOI marker decodes completely.
   * ImageIO instead warns and fills the missing part with grey, so the warnings are sorted here.
   */
  static String fatalWarning(Format format, List<String> warnings, byte[] bytes) {
    if (warnings.isEmpty()) return null;
    if (format != Format.JPEG) return warnings.get(0);
    boolean missingEoi = false;
    for (String w : warnings) {
      String lower = w.toLowerCase(java.util.Locale.ROOT);
      if (lower.contains("premature end")) return w;
      if (lower.contains("missing eoi")) missingEoi = true;
    }
    // a progressive file cut at a scan boundary only misses its EOI, but whole scans are gone
    if (missingEoi && jpegIsProgressive(bytes))
      return "progressive JPEG ends before its EOI marker";
    return null;
  }

  /**
   * True when the frame header is SOF2/SOF6/SOF10/SOF14 (progressive), found by walking the marker
   * segments.
   */
  static boolean jpegIsProgressive(byte[] b) {
    int p = 2;
    while (p + 4 <= b.length && (b[p] & 0xff) == 0xFF) {
      int marker = b[p + 1] & 0xff;
      if (marker == 0xFF) {
        p++; // fill byte
        continue;
      }
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        return (marker & 0x03) == 0x02;
      }
      if (marker == 0xDA) return false;
      p += 2 + (((b[p + 2] & 0xff) << 8) | (b[p + 3] & 0xff));
    }
    return false;
  }

  /**
   * Pillow's first GIF frame: the logical screen, the frame pasted at its offset, the rest the
   * transparent index.
   */
  private DecodedImage onLogicalScreen(DecodedImage frame, byte[] bytes)
      throws ImageDecodeException {
    GifLayout g = screen(bytes, frame.width(), frame.height());
    if (g == null) return frame;
    byte[] px = g.place(frame.pixels(), frame.width(), frame.height());
    return new DecodedImage(
        g.screenWidth(), g.screenHeight(), DecodedImage.Mode.P, px, frame.palette());
  }

  /**
   * {@link #probe}'s size of a GIF: the logical screen when {@link #decode} pastes the first frame
   * onto one, so that a token budget counts the tiles that will be made (ImageIO's header gives the
   * first frame's own size).
   */
  private Header onLogicalScreen(Header frame, byte[] bytes) throws ImageDecodeException {
    GifLayout g = screen(bytes, frame.width(), frame.height());
    return g == null ? frame : new Header(frame.format(), g.screenWidth(), g.screenHeight());
  }

  /**
   * The GIF's layout when its first frame ({@code w × h}) goes onto a larger or offset logical
   * screen, else null; refuses a screen over the pixel limit.
   */
  private GifLayout screen(byte[] bytes, int w, int h) throws ImageDecodeException {
    GifLayout g = GifLayout.parse(bytes);
    if (g == null || g.frameFillsScreen() || g.frameWidth() != w || g.frameHeight() != h) {
      return null;
    }
    if (g.screenWidth() <= 0 || g.screenHeight() <= 0) return null;
    if ((long) g.screenWidth() * g.screenHeight() > maxPixels) {
      throw new ImageDecodeException(
          Reason.TOO_MANY_PIXELS,
          "GIF logical screen is "
              + g.screenWidth()
              + "x"
              + g.screenHeight()
              + " pixels, the limit is "
              + maxPixels);
    }
    return g;
  }

  /**
   * PNG colour types 0 (grey) and 2 (RGB) have no alpha channel, but ImageIO turns a tRNS chunk
   * into one. Pillow keeps mode L / RGB (the transparency sits in {@code info}, which HF ignores),
   * so we drop that alpha again.
   */
  static boolean pngHasNoAlphaChannel(byte[] png) {
    // signature (8) + IHDR length (4) + type (4) + width (4) + height (4) + bit depth (1) -> colour
    // type at 25
    return png.length > 25 && (png[25] == 0 || png[25] == 2);
  }

  /** Raw samples of a decoded BufferedImage, in Pillow's mode and channel order. */
  static DecodedImage fromBuffered(BufferedImage bi, boolean dropAlpha)
      throws ImageDecodeException {
    int w = bi.getWidth();
    int h = bi.getHeight();
    ColorModel cm = bi.getColorModel();
    Raster r = bi.getRaster();
    if (cm instanceof IndexColorModel icm && r.getNumBands() == 1) {
      int[] pal = new int[icm.getMapSize()];
      for (int i = 0; i < pal.length; i++)
        pal[i] = icm.getRGB(i) & 0xFFFFFF; // Pillow's palette is RGB only
      return new DecodedImage(w, h, DecodedImage.Mode.P, samples(r, w, h, 1, 8), pal);
    }
    int bands = r.getNumBands();
    int bits = cm.getComponentSize(0);
    for (int b = 1; b < cm.getNumComponents(); b++) {
      if (cm.getComponentSize(b) != bits) bits = -1;
    }
    if (bits != 8 && bits != 16 && !(bands == 1 && bits < 8 && bits > 0)) {
      // packed formats such as 16-bit BMP (5-6-5): let the JDK expand them to 8 bits per channel
      return fromArgb(bi, cm.hasAlpha() && !dropAlpha);
    }
    if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_CMYK || bands > 4) {
      throw new ImageDecodeException(
          Reason.UNSUPPORTED_FORMAT, "CMYK / " + bands + "-band images are not supported");
    }
    switch (bands) {
      case 1 -> {
        return DecodedImage.of(w, h, DecodedImage.Mode.L, samples(r, w, h, 1, bits));
      }
      case 2 -> {
        if (dropAlpha)
          return DecodedImage.of(
              w, h, DecodedImage.Mode.L, firstBands(samples(r, w, h, 2, bits), 2, 1));
        // Gray + alpha (Pillow "LA"): widened to RGBA, which resizes and composites identically
        // channel by channel
        byte[] la = samples(r, w, h, 2, bits);
        byte[] rgba = new byte[w * h * 4];
        for (int i = 0, o = 0; i < la.length; i += 2, o += 4) {
          rgba[o] = rgba[o + 1] = rgba[o + 2] = la[i];
          rgba[o + 3] = la[i + 1];
        }
        return DecodedImage.of(w, h, DecodedImage.Mode.RGBA, rgba);
      }
      case 3 -> {
        return DecodedImage.of(w, h, DecodedImage.Mode.RGB, samples(r, w, h, 3, bits));
      }
      case 4 -> {
        if (dropAlpha)
          return DecodedImage.of(
              w, h, DecodedImage.Mode.RGB, firstBands(samples(r, w, h, 4, bits), 4, 3));
        if (!cm.hasAlpha()) {
          throw new ImageDecodeException(
              Reason.UNSUPPORTED_FORMAT, "4-band image without alpha (CMYK?)");
        }
        return DecodedImage.of(w, h, DecodedImage.Mode.RGBA, samples(r, w, h, 4, bits));
      }
      default ->
          throw new ImageDecodeException(
              Reason.UNSUPPORTED_FORMAT, bands + "-band images are not supported");
    }
  }

  private static byte[] firstBands(byte[] px, int from, int keep) {
    byte[] out = new byte[px.length / from * keep];
    for (int i = 0, o = 0; i < px.length; i += from, o += keep)
      System.arraycopy(px, i, out, o, keep);
    return out;
  }

  private static DecodedImage fromArgb(BufferedImage bi, boolean alpha) {
    int w = bi.getWidth();
    int h = bi.getHeight();
    int ch = alpha ? 4 : 3;
    byte[] out = new byte[w * h * ch];
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      bi.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0, o = y * w * ch; x < w; x++, o += ch) {
        int argb = row[x];
        out[o] = (byte) (argb >> 16);
        out[o + 1] = (byte) (argb >> 8);
        out[o + 2] = (byte) argb;
        if (alpha) out[o + 3] = (byte) (argb >>> 24);
      }
    }
    return DecodedImage.of(w, h, alpha ? DecodedImage.Mode.RGBA : DecodedImage.Mode.RGB, out);
  }

  /**
   * Interleaved 8-bit samples in band order (R, G, B, A as the raster names them). 16-bit samples
   * keep their high byte, as Pillow does when it opens 16-bit RGB(A) PNGs.
   */
  private static byte[] samples(Raster r, int w, int h, int bands, int bits) {
    byte[] out = new byte[w * h * bands];
    if (r.getDataBuffer() instanceof DataBufferByte db
        && r.getSampleModel() instanceof PixelInterleavedSampleModel sm
        && db.getNumBanks() == 1
        && sm.getPixelStride() == bands
        && bits == 8
        && r.getSampleModelTranslateX() == 0
        && r.getSampleModelTranslateY() == 0) {
      byte[] data = db.getData();
      int[] offs = sm.getBandOffsets();
      int stride = sm.getScanlineStride();
      boolean identity = true;
      for (int b = 0; b < bands; b++) identity &= offs[b] == b;
      for (int y = 0; y < h; y++) {
        int src = y * stride + db.getOffset();
        int dst = y * w * bands;
        if (identity) {
          System.arraycopy(data, src, out, dst, w * bands);
        } else {
          for (int x = 0; x < w; x++, src += bands, dst += bands) {
            for (int b = 0; b < bands; b++) out[dst + b] = data[src + offs[b]];
          }
        }
      }
      return out;
    }
    int shift =
        r.getDataBuffer().getDataType() == DataBuffer.TYPE_USHORT && bits > 8 ? bits - 8 : 0;
    int[] row = new int[w * bands];
    for (int y = 0; y < h; y++) {
      r.getPixels(0, y, w, 1, row);
      int dst = y * w * bands;
      for (int i = 0; i < row.length; i++) out[dst + i] = (byte) (row[i] >>> shift);
    }
    return out;
  }
}
