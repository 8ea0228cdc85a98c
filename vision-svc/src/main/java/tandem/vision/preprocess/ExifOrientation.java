package tandem.vision.preprocess;

/**
 * The EXIF orientation tag of a JPEG and the transpose that makes the image upright (what Pillow's
 * {@code ImageOps.exif_transpose} does). Not part of the reference pipeline: used only when the
 * decoder is told to.
 */
public final class ExifOrientation {
  private ExifOrientation() {}

  /**
   * Orientation 1..8 from the first Exif APP1 segment, or 1 when absent or unreadable (never
   * throws).
   */
  public static int read(byte[] jpeg) {
    try {
      int p = 2;
      while (p + 4 <= jpeg.length && (jpeg[p] & 0xff) == 0xFF) {
        int marker = jpeg[p + 1] & 0xff;
        if (marker == 0xDA || marker == 0xD9)
          break; // start of scan / end of image: no more headers
        int len = ((jpeg[p + 2] & 0xff) << 8) | (jpeg[p + 3] & 0xff);
        if (len < 2 || p + 2 + len > jpeg.length) break;
        int seg = p + 4;
        if (marker == 0xE1
            && len >= 8 + 6
            && jpeg[seg] == 'E'
            && jpeg[seg + 1] == 'x'
            && jpeg[seg + 2] == 'i'
            && jpeg[seg + 3] == 'f'
            && jpeg[seg + 4] == 0
            && jpeg[seg + 5] == 0) {
          return fromTiff(jpeg, seg + 6, p + 2 + len);
        }
        p += 2 + len;
      }
    } catch (RuntimeException e) {
      // a malformed Exif block is ignored, as Pillow does
    }
    return 1;
  }

  private static int fromTiff(byte[] b, int t, int end) {
    boolean le;
    if (b[t] == 'I' && b[t + 1] == 'I') le = true;
    else if (b[t] == 'M' && b[t + 1] == 'M') le = false;
    else return 1;
    int ifd = t + u32(b, t + 4, le);
    if (ifd + 2 > end) return 1;
    int n = u16(b, ifd, le);
    for (int i = 0; i < n; i++) {
      int e = ifd + 2 + 12 * i;
      if (e + 12 > end) return 1;
      if (u16(b, e, le) == 0x0112 && u16(b, e + 2, le) == 3) {
        int v = u16(b, e + 8, le);
        return v >= 1 && v <= 8 ? v : 1;
      }
    }
    return 1;
  }

  private static int u16(byte[] b, int i, boolean le) {
    return le ? (b[i] & 0xff) | (b[i + 1] & 0xff) << 8 : (b[i] & 0xff) << 8 | (b[i + 1] & 0xff);
  }

  private static int u32(byte[] b, int i, boolean le) {
    return le
        ? u16(b, i, true) | u16(b, i + 2, true) << 16
        : u16(b, i, false) << 16 | u16(b, i + 2, false);
  }

  /**
   * The upright image for an orientation (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90°
   * clockwise, 7 transverse, 8 rotate 90° counter-clockwise).
   */
  public static DecodedImage apply(DecodedImage im, int orientation) {
    if (orientation <= 1 || orientation > 8) return im;
    int w = im.width();
    int h = im.height();
    int ch = im.channels();
    boolean swap = orientation >= 5;
    int ow = swap ? h : w;
    int oh = swap ? w : h;
    byte[] src = im.pixels();
    byte[] out = new byte[src.length];
    for (int oy = 0; oy < oh; oy++) {
      for (int ox = 0; ox < ow; ox++) {
        int x;
        int y;
        switch (orientation) {
          case 2 -> {
            x = w - 1 - ox;
            y = oy;
          }
          case 3 -> {
            x = w - 1 - ox;
            y = h - 1 - oy;
          }
          case 4 -> {
            x = ox;
            y = h - 1 - oy;
          }
          case 5 -> {
            x = oy;
            y = ox;
          }
          case 6 -> {
            x = oy;
            y = h - 1 - ox;
          }
          case 7 -> {
            x = w - 1 - oy;
            y = h - 1 - ox;
          }
          default -> {
            x = w - 1 - oy;
            y = ox;
          } // 8
        }
        System.arraycopy(src, (y * w + x) * ch, out, (oy * ow + ox) * ch, ch);
      }
    }
    return new DecodedImage(ow, oh, im.mode(), out, im.palette());
  }
}
