package tandem.vision.preprocess;

/**
 * Where the first GIF frame sits on the logical screen. Pillow opens a GIF at the logical screen
 * size and pastes the first frame at its offset on a canvas filled with the transparent index (or
 * 0); ImageIO returns the bare frame. Parsed from the bytes because the decoder reads with metadata
 * off.
 *
 * @param transparentIndex the first frame's transparent palette index, or -1
 */
record GifLayout(
    int screenWidth,
    int screenHeight,
    int left,
    int top,
    int frameWidth,
    int frameHeight,
    int transparentIndex) {

  /**
   * The layout, or null when the block structure cannot be followed (the decoder then reports the
   * error).
   */
  static GifLayout parse(byte[] b) {
    try {
      int sw = u16(b, 6);
      int sh = u16(b, 8);
      int p = 13;
      if ((b[10] & 0x80) != 0) p += 3 * (1 << ((b[10] & 7) + 1));
      int transparent = -1;
      while (p < b.length) {
        int tag = b[p] & 0xff;
        if (tag == 0x21) {
          int label = b[p + 1] & 0xff;
          p += 2;
          if (label == 0xF9 && (b[p] & 0xff) >= 4) {
            transparent = (b[p + 1] & 1) != 0 ? b[p + 4] & 0xff : -1;
          }
          while (b[p] != 0) p += (b[p] & 0xff) + 1; // sub-blocks
          p++;
        } else if (tag == 0x2C) {
          return new GifLayout(
              sw, sh, u16(b, p + 1), u16(b, p + 3), u16(b, p + 5), u16(b, p + 7), transparent);
        } else {
          return null;
        }
      }
    } catch (ArrayIndexOutOfBoundsException e) {
      return null;
    }
    return null;
  }

  private static int u16(byte[] b, int i) {
    return (b[i] & 0xff) | (b[i + 1] & 0xff) << 8;
  }

  boolean frameFillsScreen() {
    return left == 0 && top == 0 && frameWidth == screenWidth && frameHeight == screenHeight;
  }

  /** The frame (one channel of indices) placed on the logical screen as Pillow does. */
  byte[] place(byte[] frame, int fw, int fh) {
    byte[] out = new byte[screenWidth * screenHeight];
    if (transparentIndex > 0) java.util.Arrays.fill(out, (byte) transparentIndex);
    int w = Math.min(fw, screenWidth - left);
    for (int y = 0; y < fh && top + y < screenHeight; y++) {
      if (w > 0) System.arraycopy(frame, y * fw, out, (top + y) * screenWidth + left, w);
    }
    return out;
  }
}
