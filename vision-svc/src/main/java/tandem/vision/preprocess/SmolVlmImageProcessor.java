package tandem.vision.preprocess;

import java.util.ArrayList;
import java.util.List;

/**
 * Hugging Face's slow {@code SmolVLMImageProcessor.preprocess} (= Idefics3) for one image,
 * bit-exact with Pillow: resize to the longest edge, resize both sides up to multiples of the tile
 * side, split into tiles (row-major) plus a global image last, then RGB conversion, rescale and
 * normalize. Pure functions.
 */
public final class SmolVlmImageProcessor {
  private SmolVlmImageProcessor() {}

  /** HF's absolute cap on the longest side after the first resize. */
  static final int MAX_IMAGE_SIZE = 4096;

  /**
   * One preprocessed image.
   *
   * @param rows tile rows (0 when the image was not split)
   * @param cols tile columns (0 when the image was not split)
   * @param width original width, pixels
   * @param height original height, pixels
   * @param tiles number of images sent to the encoder (rows·cols + 1 when split, else 1)
   * @param tileSize side of every tile
   * @param pixelValues float32 {@code [tiles, 3, tileSize, tileSize]}, channels first, RGB
   * @param tilesU8 the uint8 RGB (HWC) tiles before rescaling, when asked for; else null
   */
  public record Processed(
      int rows,
      int cols,
      int width,
      int height,
      int tiles,
      int tileSize,
      float[] pixelValues,
      byte[][] tilesU8) {

    /** Tokens this image takes in the prompt, excluding the marker text: tiles × image_seq_len. */
    public int imageTokens(int imageSeqLen) {
      return tiles * imageSeqLen;
    }
  }

  /** (height, width) pair, in HF's order. */
  public record Size(int height, int width) {}

  public static Processed preprocess(DecodedImage image, PreprocessorConfig cfg) {
    return preprocess(image, cfg, false);
  }

  /**
   * As {@link #preprocess(DecodedImage, PreprocessorConfig)}; {@code keepU8} also returns the uint8
   * tiles.
   */
  public static Processed preprocess(DecodedImage image, PreprocessorConfig cfg, boolean keepU8) {
    if (!cfg.doConvertRgb() && image.mode() != DecodedImage.Mode.RGB) {
      throw new IllegalArgumentException(
          "do_convert_rgb=false needs an RGB image (the encoder takes 3 channels), got mode "
              + image.mode());
    }
    int tile = cfg.maxImageSize().longestEdge();
    int resample = cfg.resample();
    DecodedImage im = image;
    if (cfg.doResize()) {
      Size s = longestEdgeSize(im.height(), im.width(), cfg.size().longestEdge());
      im = PillowResample.resize(im, s.width(), s.height(), resample);
    }
    List<DecodedImage> frames = new ArrayList<>();
    int rows = 0;
    int cols = 0;
    if (cfg.doImageSplitting()) {
      Size s = visionEncoderSize(im.height(), im.width(), tile);
      im = PillowResample.resize(im, s.width(), s.height(), resample);
      int h = im.height();
      int w = im.width();
      if (h > tile || w > tile) {
        rows = ceilDiv(h, tile);
        cols = ceilDiv(w, tile);
        int th = ceilDiv(h, rows);
        int tw = ceilDiv(w, cols);
        if (th != tile || tw != tile || rows * th != h || cols * tw != w) {
          // cannot happen after resize_for_vision_encoder; guards the uniform [tiles,3,S,S] layout
          // below
          throw new IllegalStateException(
              "tiles of " + w + "x" + h + " are not " + tile + " square");
        }
        for (int r = 0; r < rows; r++) {
          for (int c = 0; c < cols; c++) frames.add(crop(im, c * tw, r * th, tw, th));
        }
        frames.add(PillowResample.resize(im, tile, tile, resample)); // global image last
      } else {
        frames.add(im);
      }
    } else {
      frames.add(PillowResample.resize(im, tile, tile, resample));
    }
    int n = frames.size();
    int plane = tile * tile;
    float[] pv = new float[n * 3 * plane];
    byte[][] u8 = keepU8 ? new byte[n][] : null;
    float[][] lut = pixelLut(cfg);
    for (int t = 0; t < n; t++) {
      DecodedImage f = frames.get(t);
      if (f.width() != tile || f.height() != tile) {
        // only a no-split config whose tile equals the original size could get here; HF would pad,
        // we refuse
        throw new IllegalStateException(
            "frame " + f.width() + "x" + f.height() + " is not " + tile + " square");
      }
      byte[] rgb = toRgb(f);
      if (keepU8) u8[t] = rgb;
      int base = t * 3 * plane;
      Parallel.rows(
          tile,
          (y0, y1) -> {
            for (int i = y0 * tile; i < y1 * tile; i++) {
              int p = i * 3;
              pv[base + i] = lut[0][rgb[p] & 0xff];
              pv[base + plane + i] = lut[1][rgb[p + 1] & 0xff];
              pv[base + 2 * plane + i] = lut[2][rgb[p + 2] & 0xff];
            }
          });
    }
    return new Processed(rows, cols, image.width(), image.height(), n, tile, pv, u8);
  }

  /**
   * The float value of every byte per channel: rescale as {@code (float)(x·(double)factor)} (numpy
   * multiplies in float64, then casts), then normalize in float32 {@code (x − mean)/std} with
   * mean/std cast to float32.
   */
  static float[][] pixelLut(PreprocessorConfig cfg) {
    float[][] lut = new float[3][256];
    for (int c = 0; c < 3; c++) {
      float mean = (float) (double) cfg.imageMean().get(c);
      float std = (float) (double) cfg.imageStd().get(c);
      for (int x = 0; x < 256; x++) {
        float v = cfg.doRescale() ? (float) (x * cfg.rescaleFactor()) : (float) x;
        if (cfg.doNormalize()) v = (v - mean) / std;
        lut[c][x] = v;
      }
    }
    return lut;
  }

  /**
   * HF {@code get_resize_output_image_size}: longest side to {@code maxLen} (also upscaling), the
   * other side by truncating the aspect ratio and rounding up to even; then the 4096 cap (without
   * the even rounding).
   */
  public static Size longestEdgeSize(int height, int width, int maxLen) {
    double aspect = (double) width / height;
    int h;
    int w;
    if (width >= height) {
      w = maxLen;
      h = (int) (w / aspect);
      if (h % 2 != 0) h += 1;
    } else {
      h = maxLen;
      w = (int) (h * aspect);
      if (w % 2 != 0) w += 1;
    }
    h = Math.max(h, 1);
    w = Math.max(w, 1);
    aspect = (double) w / h;
    if (w >= h && w > MAX_IMAGE_SIZE) {
      w = MAX_IMAGE_SIZE;
      h = (int) (w / aspect);
    } else if (h > w && h > MAX_IMAGE_SIZE) {
      h = MAX_IMAGE_SIZE;
      w = (int) (h * aspect);
    }
    return new Size(Math.max(h, 1), Math.max(w, 1));
  }

  /**
   * HF {@code resize_for_vision_encoder}: both sides up to multiples of {@code tile}, keeping the
   * aspect ratio.
   */
  public static Size visionEncoderSize(int height, int width, int tile) {
    double aspect = (double) width / height;
    int h;
    int w;
    if (width >= height) {
      w = ceilDiv(width, tile) * tile;
      h = (int) (w / aspect);
      h = ceilDiv(h, tile) * tile;
    } else {
      h = ceilDiv(height, tile) * tile;
      w = (int) (h * aspect);
      w = ceilDiv(w, tile) * tile;
    }
    return new Size(h, w);
  }

  /**
   * The tile grid for an image of this size under this config, without touching pixels: {rows,
   * cols, tiles}.
   */
  public static int[] grid(int height, int width, PreprocessorConfig cfg) {
    int tile = cfg.maxImageSize().longestEdge();
    if (!cfg.doImageSplitting()) return new int[] {0, 0, 1};
    Size s =
        cfg.doResize()
            ? longestEdgeSize(height, width, cfg.size().longestEdge())
            : new Size(height, width);
    s = visionEncoderSize(s.height(), s.width(), tile);
    if (s.height() > tile || s.width() > tile) {
      int rows = ceilDiv(s.height(), tile);
      int cols = ceilDiv(s.width(), tile);
      return new int[] {rows, cols, rows * cols + 1};
    }
    return new int[] {0, 0, 1};
  }

  private static int ceilDiv(int a, int b) {
    // Python's math.ceil(a / b) for the non-negative ints used here; a == 0 (int() truncated to 0)
    // gives 0
    return (a + b - 1) / b;
  }

  static DecodedImage crop(DecodedImage im, int x0, int y0, int w, int h) {
    int ch = im.channels();
    byte[] out = new byte[w * h * ch];
    for (int y = 0; y < h; y++) {
      System.arraycopy(im.pixels(), ((y0 + y) * im.width() + x0) * ch, out, y * w * ch, w * ch);
    }
    return im.withPixels(w, h, out);
  }

  /**
   * HF {@code convert_to_rgb} after the resizes: {@code .convert("RGBA")} (L replicated, P through
   * its palette with alpha 255), composite over opaque white, {@code .convert("RGB")}. Opaque
   * pixels come through unchanged.
   */
  static byte[] toRgb(DecodedImage im) {
    byte[] px = im.pixels();
    int n = im.width() * im.height();
    return switch (im.mode()) {
      case RGB -> px;
      case RGBA -> PillowResample.rgbaOverWhite(px);
      case L -> {
        byte[] out = new byte[n * 3];
        for (int i = 0; i < n; i++) {
          byte v = px[i];
          out[3 * i] = v;
          out[3 * i + 1] = v;
          out[3 * i + 2] = v;
        }
        yield out;
      }
      case P -> {
        int[] pal = im.palette();
        byte[] out = new byte[n * 3];
        for (int i = 0; i < n; i++) {
          int idx = px[i] & 0xff;
          // Pillow's palette starts as a grey ramp; entries the file did not define stay (i, i, i)
          int rgb = idx < pal.length ? pal[idx] : (idx << 16) | (idx << 8) | idx;
          out[3 * i] = (byte) (rgb >> 16);
          out[3 * i + 1] = (byte) (rgb >> 8);
          out[3 * i + 2] = (byte) rgb;
        }
        yield out;
      }
    };
  }
}
