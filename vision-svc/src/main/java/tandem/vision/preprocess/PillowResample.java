package tandem.vision.preprocess;

/**
 * Pillow's 8-bit resampling and alpha arithmetic, ported operation for operation so that the
 * results are bit-identical to Pillow 9.x ({@code libImaging/Resample.c}, {@code Geometry.c},
 * {@code Convert.c}, {@code AlphaComposite.c}). Images are interleaved uint8 (HWC) with 1, 3 or 4
 * channels.
 *
 * <p>Why integer-exact matters: the reference tiles come from Pillow; a float resampler differs by
 * a level here and there, which moves the SHA-256 of every tile and, through the encoder, the
 * embeddings.
 */
public final class PillowResample {
  private PillowResample() {}

  /**
   * Fixed-point bits of the 8-bit path: 32 − 8 − 2 leaves room for negative lobes and overshoot.
   */
  static final int PRECISION_BITS = 32 - 8 - 2;

  private static final double LANCZOS_SUPPORT = 3.0;

  // ---------------------------------------------------------------- LANCZOS

  /** Lanczos-3 as Pillow writes it: {@code sinc(x)·sinc(x/3)} on [−3, 3). */
  static double lanczos(double x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
  }

  private static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  /**
   * Fixed-point filter taps for one axis: output index i reads {@code count[i]} inputs starting at
   * {@code first[i]}, with weights {@code k[i*ksize ..]} scaled by 2^22.
   */
  record Coefficients(int ksize, int[] first, int[] count, int[] k) {}

  /**
   * The horizontal pass's tap table (used by every row) is built for at most this many ints (16
   * MiB) at a time. The table is about six ints per source pixel along the row, so only an
   * extremely wide image needs more than one (a 50,000,000 × 1 image, within the pixel limit and a
   * few hundred KB as a PNG, would have needed 1.2 GB).
   */
  static final long MAX_TABLE_INTS = 4L << 20;

  /** Taps per output (the table's row length) for a whole-image box. */
  static int ksize(int inSize, int outSize) {
    double scale = (double) inSize / outSize;
    double support = LANCZOS_SUPPORT * Math.max(scale, 1.0);
    return (int) Math.ceil(support) * 2 + 1;
  }

  /**
   * precompute_coeffs + normalize_coeffs_8bpc for one output index {@code xx} of a whole-image box
   * (0..inSize): its weights into {@code k[kOff ..]} ({@code w}: scratch of {@link #ksize}
   * doubles). Returns {@code first << 32 | count}.
   */
  private static long taps(int xx, int inSize, int outSize, double[] w, int[] k, int kOff) {
    double scale = (double) inSize / outSize;
    double filterscale = Math.max(scale, 1.0);
    double support = LANCZOS_SUPPORT * filterscale;
    double center = (xx + 0.5) * scale;
    double ww = 0.0;
    double ss =
        1.0 / filterscale; // Pillow multiplies by the reciprocal; dividing could differ by an ulp
    int xmin = (int) (center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int) (center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      double v = lanczos((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      // sign-aware rounding to the nearest fixed-point step, then C's truncating (int) cast
      k[kOff + x] =
          v < 0
              ? (int) (-0.5 + v * (1 << PRECISION_BITS))
              : (int) (0.5 + v * (1 << PRECISION_BITS));
    }
    return (long) xmin << 32 | xmax;
  }

  /** The whole tap table: {@link #taps} of every output index. */
  static Coefficients coefficients(int inSize, int outSize) {
    int ksize = ksize(inSize, outSize);
    Coefficients c =
        new Coefficients(ksize, new int[outSize], new int[outSize], new int[outSize * ksize]);
    fill(c, inSize, outSize, 0, outSize, new double[ksize]);
    return c;
  }

  /** Rows [0, to - from) of {@code c}: the taps of outputs [from, to). */
  private static void fill(Coefficients c, int inSize, int outSize, int from, int to, double[] w) {
    for (int xx = from; xx < to; xx++) {
      long t = taps(xx, inSize, outSize, w, c.k, (xx - from) * c.ksize);
      c.first[xx - from] = (int) (t >>> 32);
      c.count[xx - from] = (int) t;
    }
  }

  /** clip8: the accumulator shifted down and clamped to 0..255. */
  private static int clip8(int acc) {
    int v = acc >> PRECISION_BITS;
    return v < 0 ? 0 : (v > 255 ? 255 : v);
  }

  /**
   * Pillow {@code ImagingResample} with LANCZOS over the whole image: horizontal pass first (only
   * over the source rows the vertical pass reads), each pass rounded and clipped to 8 bits. A pass
   * whose size does not change is skipped, as in Pillow. Returns {@code src} itself when neither
   * size changes.
   */
  public static byte[] lanczos(
      byte[] src, int width, int height, int channels, int outWidth, int outHeight) {
    return lanczos(src, width, height, channels, outWidth, outHeight, MAX_TABLE_INTS);
  }

  /**
   * {@link #lanczos} with a horizontal tap table of at most {@code maxTableInts} ints at a time
   * (the same bytes whatever it is).
   */
  static byte[] lanczos(
      byte[] src,
      int width,
      int height,
      int channels,
      int outWidth,
      int outHeight,
      long maxTableInts) {
    checkArgs(src, width, height, channels, outWidth, outHeight);
    boolean needH = outWidth != width;
    boolean needV = outHeight != height;
    if (!needH && !needV) return src;
    byte[] cur = src;
    int curRowOffset = 0; // source row that cur's row 0 holds
    if (needH) {
      int yFirst = 0;
      int yLast = height;
      if (needV) { // only the source rows the vertical pass reads
        double[] w = new double[ksize(height, outHeight)];
        int[] k = new int[w.length];
        long t0 = taps(0, height, outHeight, w, k, 0);
        long t1 = taps(outHeight - 1, height, outHeight, w, k, 0);
        yFirst = (int) (t0 >>> 32);
        yLast = (int) (t1 >>> 32) + (int) t1;
      }
      cur = horizontal(src, width, channels, outWidth, yFirst, yLast, maxTableInts);
      curRowOffset = yFirst;
    }
    if (!needV) return cur;
    return vertical(cur, outWidth, channels, height, outHeight, curRowOffset);
  }

  /**
   * Horizontal pass over source rows [y0, y1). The tap table, used by every row, holds at most
   * {@code maxTableInts} ints: all output columns at once on any real image, a range of them at a
   * time, refilled, past that (an extremely wide image, which then has few rows).
   */
  private static byte[] horizontal(
      byte[] src, int width, int ch, int outWidth, int y0, int y1, long maxTableInts) {
    int rows = y1 - y0;
    byte[] out = new byte[rows * outWidth * ch];
    int ksize = ksize(width, outWidth);
    int span = (int) Math.min(outWidth, Math.max(1, maxTableInts / ksize));
    Coefficients c = new Coefficients(ksize, new int[span], new int[span], new int[span * ksize]);
    double[] w = new double[ksize];
    for (int from = 0; from < outWidth; from += span) {
      int to = Math.min(outWidth, from + span);
      fill(c, width, outWidth, from, to, w);
      horizontalColumns(src, width, ch, outWidth, c, from, to, y0, out);
    }
    return out;
  }

  /** Output columns [from, to) of every row of {@code out}, with their tap table {@code c}. */
  private static void horizontalColumns(
      byte[] src,
      int width,
      int ch,
      int outWidth,
      Coefficients c,
      int from,
      int to,
      int y0,
      byte[] out) {
    int rows = out.length / (outWidth * ch);
    int ksize = c.ksize;
    int[] k = c.k;
    int[] first = c.first;
    int[] count = c.count;
    final int half = 1 << (PRECISION_BITS - 1);
    Parallel.rows(
        rows,
        (r0, r1) -> {
          for (int r = r0; r < r1; r++) {
            int inRow = (r + y0) * width * ch;
            int outRow = r * outWidth * ch;
            switch (ch) {
              case 1 -> {
                for (int xx = from; xx < to; xx++) {
                  int j = xx - from;
                  int kb = j * ksize;
                  int p = inRow + first[j];
                  int n = count[j];
                  int s0 = half;
                  for (int x = 0; x < n; x++) s0 += (src[p + x] & 0xff) * k[kb + x];
                  out[outRow + xx] = (byte) clip8(s0);
                }
              }
              case 3 -> {
                for (int xx = from; xx < to; xx++) {
                  int j = xx - from;
                  int kb = j * ksize;
                  int p = inRow + first[j] * 3;
                  int n = count[j];
                  int s0 = half, s1 = half, s2 = half;
                  for (int x = 0; x < n; x++, p += 3) {
                    int w = k[kb + x];
                    s0 += (src[p] & 0xff) * w;
                    s1 += (src[p + 1] & 0xff) * w;
                    s2 += (src[p + 2] & 0xff) * w;
                  }
                  int o = outRow + xx * 3;
                  out[o] = (byte) clip8(s0);
                  out[o + 1] = (byte) clip8(s1);
                  out[o + 2] = (byte) clip8(s2);
                }
              }
              case 4 -> {
                for (int xx = from; xx < to; xx++) {
                  int j = xx - from;
                  int kb = j * ksize;
                  int p = inRow + first[j] * 4;
                  int n = count[j];
                  int s0 = half, s1 = half, s2 = half, s3 = half;
                  for (int x = 0; x < n; x++, p += 4) {
                    int w = k[kb + x];
                    s0 += (src[p] & 0xff) * w;
                    s1 += (src[p + 1] & 0xff) * w;
                    s2 += (src[p + 2] & 0xff) * w;
                    s3 += (src[p + 3] & 0xff) * w;
                  }
                  int o = outRow + xx * 4;
                  out[o] = (byte) clip8(s0);
                  out[o + 1] = (byte) clip8(s1);
                  out[o + 2] = (byte) clip8(s2);
                  out[o + 3] = (byte) clip8(s3);
                }
              }
              default ->
                  throw new IllegalArgumentException("channels must be 1, 3 or 4, got " + ch);
            }
          }
        });
  }

  /**
   * Vertical pass over {@code inHeight} source rows (row 0 of {@code src} is source row {@code
   * rowOffset}). Integer sums do not depend on the order of the terms, so each output row
   * accumulates whole input rows (a loop the JIT vectorises) instead of walking one column at a
   * time as the C code does. Each output row's taps are used once, so they are computed there
   * rather than kept in a table (about six ints a source row: 1.2 GB for a 50,000,000-row image).
   */
  private static byte[] vertical(
      byte[] src, int width, int ch, int inHeight, int outHeight, int rowOffset) {
    int rowLen = width * ch;
    byte[] out = new byte[outHeight * rowLen];
    int ksize = ksize(inHeight, outHeight);
    final int half = 1 << (PRECISION_BITS - 1);
    Parallel.rows(
        outHeight,
        (r0, r1) -> {
          int[] acc = new int[rowLen];
          double[] scratch = new double[ksize];
          int[] k = new int[ksize];
          for (int yy = r0; yy < r1; yy++) {
            java.util.Arrays.fill(acc, half);
            long t = taps(yy, inHeight, outHeight, scratch, k, 0);
            int y0 = (int) (t >>> 32) - rowOffset;
            int n = (int) t;
            for (int y = 0; y < n; y++) {
              int w = k[y];
              int p = (y0 + y) * rowLen;
              for (int i = 0; i < rowLen; i++) acc[i] += (src[p + i] & 0xff) * w;
            }
            int o = yy * rowLen;
            for (int i = 0; i < rowLen; i++) out[o + i] = (byte) clip8(acc[i]);
          }
        });
    return out;
  }

  // ---------------------------------------------------------------- NEAREST

  /**
   * Pillow NEAREST (ImagingScaleAffine): source index {@code (int) pos} where pos starts at {@code
   * s/2} and grows by {@code s = in/out} through repeated double addition (the accumulated rounding
   * is part of the result).
   */
  public static byte[] nearest(
      byte[] src, int width, int height, int channels, int outWidth, int outHeight) {
    checkArgs(src, width, height, channels, outWidth, outHeight);
    if (outWidth == width && outHeight == height) return src;
    int[] xs = nearestIndex(width, outWidth);
    int[] ys = nearestIndex(height, outHeight);
    byte[] out = new byte[outWidth * outHeight * channels];
    for (int y = 0; y < outHeight; y++) {
      int inRow = ys[y] * width * channels;
      int o = y * outWidth * channels;
      if (channels == 1) {
        for (int x = 0; x < outWidth; x++) out[o + x] = src[inRow + xs[x]];
      } else {
        for (int x = 0; x < outWidth; x++, o += channels) {
          System.arraycopy(src, inRow + xs[x] * channels, out, o, channels);
        }
      }
    }
    return out;
  }

  static int[] nearestIndex(int inSize, int outSize) {
    double a = (double) inSize / outSize;
    double pos = a * 0.5;
    int[] idx = new int[outSize];
    for (int i = 0; i < outSize; i++) {
      int v = pos < 0.0 ? -1 : (int) pos;
      // Pillow leaves an out-of-range pixel at the fill value; with a whole-image box this cannot
      // happen
      idx[i] = Math.min(Math.max(v, 0), inSize - 1);
      pos += a;
    }
    return idx;
  }

  // ---------------------------------------------------------------- alpha

  /** RGBA → RGBa (Convert.c rgbA2rgba): colour times alpha over 255, rounded with MULDIV255. */
  public static byte[] premultiply(byte[] rgba) {
    byte[] out = new byte[rgba.length];
    for (int i = 0; i < rgba.length; i += 4) {
      int a = rgba[i + 3] & 0xff;
      out[i] = (byte) mulDiv255(rgba[i] & 0xff, a);
      out[i + 1] = (byte) mulDiv255(rgba[i + 1] & 0xff, a);
      out[i + 2] = (byte) mulDiv255(rgba[i + 2] & 0xff, a);
      out[i + 3] = (byte) a;
    }
    return out;
  }

  private static int mulDiv255(int c, int a) {
    int t = c * a + 128;
    return ((t >> 8) + t) >> 8;
  }

  /**
   * RGBa → RGBA (Convert.c rgba2rgbA): truncating {@code 255·c/a} clipped to 255; alpha 0 and 255
   * copy the colour.
   */
  public static byte[] unpremultiply(byte[] rgba) {
    byte[] out = new byte[rgba.length];
    for (int i = 0; i < rgba.length; i += 4) {
      int a = rgba[i + 3] & 0xff;
      if (a == 255 || a == 0) {
        out[i] = rgba[i];
        out[i + 1] = rgba[i + 1];
        out[i + 2] = rgba[i + 2];
      } else {
        out[i] = (byte) Math.min(255, 255 * (rgba[i] & 0xff) / a);
        out[i + 1] = (byte) Math.min(255, 255 * (rgba[i + 1] & 0xff) / a);
        out[i + 2] = (byte) Math.min(255, 255 * (rgba[i + 2] & 0xff) / a);
      }
      out[i + 3] = (byte) a;
    }
    return out;
  }

  /**
   * {@code Image.alpha_composite(white, rgba).convert("RGB")} (AlphaComposite.c, 7-bit fixed
   * point). Over an opaque white background the result depends only on (colour, alpha), so it is
   * tabulated once.
   */
  public static int compositeOverWhite(int colour, int alpha) {
    return OVER_WHITE[(alpha << 8) | colour] & 0xff;
  }

  private static final byte[] OVER_WHITE = buildOverWhite();

  private static byte[] buildOverWhite() {
    byte[] t = new byte[256 * 256];
    for (int sa = 0; sa < 256; sa++) {
      for (int c = 0; c < 256; c++) {
        t[(sa << 8) | c] = (byte) compositeOne(c, sa, 255, 255);
      }
    }
    return t;
  }

  /**
   * One channel of AlphaComposite.c with destination colour {@code dc} and destination alpha {@code
   * da}.
   */
  static int compositeOne(int sc, int sa, int dc, int da) {
    final int bits = 7;
    if (sa == 0) return dc;
    long blend = (long) da * (255 - sa);
    long outa255 = sa * 255L + blend;
    long coef1 = sa * 255L * 255L * (1L << bits) / outa255;
    long coef2 = 255L * (1L << bits) - coef1;
    long tmp = sc * coef1 + dc * coef2 + (0x80L << bits);
    return (int) ((((tmp >> 8) + tmp) >> 8) >> bits);
  }

  /** RGBA → RGB over white, whole image. */
  public static byte[] rgbaOverWhite(byte[] rgba) {
    byte[] out = new byte[rgba.length / 4 * 3];
    for (int i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
      int base = (rgba[i + 3] & 0xff) << 8;
      out[o] = OVER_WHITE[base | (rgba[i] & 0xff)];
      out[o + 1] = OVER_WHITE[base | (rgba[i + 1] & 0xff)];
      out[o + 2] = OVER_WHITE[base | (rgba[i + 2] & 0xff)];
    }
    return out;
  }

  // ---------------------------------------------------------------- PIL Image.resize

  /**
   * {@code PIL.Image.resize((w, h), filter)} for the modes HF hands to Pillow: same size → the
   * image itself (Pillow copies); mode L/P (one channel, which HF passes as mode "P") → NEAREST
   * whatever the filter; RGBA with a non-NEAREST filter → premultiply, resample, unpremultiply;
   * otherwise the filter as asked.
   */
  public static DecodedImage resize(DecodedImage im, int outWidth, int outHeight, int resample) {
    if (outWidth == im.width() && outHeight == im.height()) return im;
    int ch = im.channels();
    byte[] px;
    if (ch == 1 || resample == PreprocessorConfig.RESAMPLE_NEAREST) {
      px = nearest(im.pixels(), im.width(), im.height(), ch, outWidth, outHeight);
    } else if (resample == PreprocessorConfig.RESAMPLE_LANCZOS) {
      if (im.mode() == DecodedImage.Mode.RGBA) {
        byte[] pre = premultiply(im.pixels());
        px = unpremultiply(lanczos(pre, im.width(), im.height(), 4, outWidth, outHeight));
      } else {
        px = lanczos(im.pixels(), im.width(), im.height(), ch, outWidth, outHeight);
      }
    } else {
      throw new IllegalArgumentException(
          "resample " + resample + " is not supported (1 LANCZOS, 0 NEAREST)");
    }
    return im.withPixels(outWidth, outHeight, px);
  }

  private static void checkArgs(
      byte[] src, int width, int height, int channels, int outWidth, int outHeight) {
    if (width <= 0 || height <= 0 || outWidth <= 0 || outHeight <= 0) {
      throw new IllegalArgumentException(
          "sizes must be positive: " + width + "x" + height + " -> " + outWidth + "x" + outHeight);
    }
    if (channels != 1 && channels != 3 && channels != 4)
      throw new IllegalArgumentException("channels must be 1, 3 or 4");
    if ((long) width * height * channels != src.length)
      throw new IllegalArgumentException("pixel array size mismatch");
  }
}
