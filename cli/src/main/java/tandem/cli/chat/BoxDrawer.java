package tandem.cli.chat;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.GraphicsEnvironment;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import tandem.proto.gateway.v1.Box;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;

/**
 * Draws boxes with their labels onto the original image (java.awt, headless). Labels are often
 * Chinese, so a CJK-capable font is looked for first; without one the labels are drawn in the
 * default font and {@link #fontNote} says so.
 */
public final class BoxDrawer {
  private static final Color[] COLORS = {
    new Color(230, 25, 75), new Color(60, 180, 75), new Color(0, 130, 200), new Color(245, 130, 48),
    new Color(145, 30, 180), new Color(70, 240, 240), new Color(240, 50, 230),
        new Color(128, 128, 0)
  };
  private static final String[] CJK_FAMILIES = {
    "Noto Sans CJK SC",
    "Noto Sans CJK",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Source Han Sans",
    "Droid Sans Fallback",
    "AR PL UMing",
    "AR PL UKai",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC"
  };

  private final Font font;
  private final String fontNote;

  public BoxDrawer() {
    System.setProperty("java.awt.headless", "true");
    String found = null;
    try {
      String[] families =
          GraphicsEnvironment.getLocalGraphicsEnvironment()
              .getAvailableFontFamilyNames(Locale.ROOT);
      outer:
      for (String want : CJK_FAMILIES) {
        for (String f : families) {
          if (f.equalsIgnoreCase(want)) {
            found = f;
            break outer;
          }
        }
      }
      if (found == null) {
        for (String f : families) {
          if (new Font(f, Font.PLAIN, 12).canDisplayUpTo("检测苹果") == -1) {
            found = f;
            break;
          }
        }
      }
    } catch (RuntimeException | Error e) {
      // no font configuration at all (minimal containers): fall back below
    }
    font = new Font(found == null ? Font.SANS_SERIF : found, Font.BOLD, 14);
    fontNote =
        found == null
            ? "no CJK-capable font found (install fonts-noto-cjk or fonts-wqy-zenhei); Chinese"
                + " labels may be drawn as empty boxes"
            : "labels drawn with font " + found;
  }

  public String fontNote() {
    return fontNote;
  }

  /**
   * Writes {@code image} with {@code boxes} drawn to {@code out} (PNG). Boxes without pixels use
   * their per-mille.
   */
  public void draw(Path image, List<Box> boxes, Path out) throws IOException {
    BufferedImage src = decode(image);
    int w = src.getWidth(), h = src.getHeight();
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, w, h);
      g.drawImage(src, 0, 0, null);
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      float stroke = Math.max(2f, Math.min(w, h) / 200f);
      Font f = font.deriveFont(Math.max(12f, Math.min(w, h) / 30f));
      g.setFont(f);
      FontMetrics fm = g.getFontMetrics();
      int k = 0;
      for (Box b : boxes) {
        if (!b.getParsed()) continue;
        double[] px = new double[4];
        for (int i = 0; i < 4; i++) {
          px[i] =
              b.getPixelsCount() == 4
                  ? b.getPixels(i)
                  : b.getNorm(i) / 1000.0 * (i % 2 == 0 ? w : h);
        }
        Color c = COLORS[k++ % COLORS.length];
        g.setColor(c);
        g.setStroke(new BasicStroke(stroke));
        int x1 = (int) Math.round(px[0]), y1 = (int) Math.round(px[1]);
        int x2 = (int) Math.round(px[2]), y2 = (int) Math.round(px[3]);
        g.drawRect(x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1));
        String label = b.getLabel().isEmpty() ? "#" + k : b.getLabel();
        int tw = fm.stringWidth(label) + 6, th = fm.getHeight();
        int ty = y1 - th >= 0 ? y1 - th : y1;
        g.fillRect(x1, ty, tw, th);
        g.setColor(Color.WHITE);
        g.drawString(label, x1 + 3, ty + fm.getAscent());
      }
    } finally {
      g.dispose();
    }
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    // through a stream: ImageIO's own file stream prints a stack trace when it cannot open the file
    try (OutputStream os = Files.newOutputStream(out)) {
      if (!ImageIO.write(img, "png", os)) throw new IOException("no PNG writer");
    }
  }

  /**
   * The image as vision-svc decodes it with its defaults, which is the space the gateway's box
   * pixels are in: a GIF on its logical screen (ImageIO gives the first frame at its own size and
   * offset), palettes and grey as Pillow reads them.
   */
  static BufferedImage decode(Path image) throws IOException {
    DecodedImage d;
    try {
      d = ImageDecoder.withDefaults().decode(Files.readAllBytes(image));
    } catch (ImageDecodeException e) {
      throw new IOException("cannot decode " + image + " for drawing: " + e.getMessage(), e);
    }
    int w = d.width(), h = d.height(), c = d.channels();
    byte[] p = d.pixels();
    int[] pal = d.palette();
    boolean alpha = d.mode() == DecodedImage.Mode.RGBA;
    BufferedImage img =
        new BufferedImage(w, h, alpha ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB);
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      for (int x = 0, i = y * w * c; x < w; x++, i += c) {
        int v0 = p[i] & 0xff;
        row[x] =
            switch (d.mode()) {
              case L -> v0 * 0x010101;
              case P -> v0 < pal.length ? pal[v0] & 0xFFFFFF : 0; // missing entries are black
              case RGB -> v0 << 16 | (p[i + 1] & 0xff) << 8 | (p[i + 2] & 0xff);
              case RGBA ->
                  (p[i + 3] & 0xff) << 24 | v0 << 16 | (p[i + 1] & 0xff) << 8 | (p[i + 2] & 0xff);
            };
      }
      img.setRGB(0, y, w, 1, row, 0, w);
    }
    return img;
  }

  /** {@code photo.jpg} → {@code photo.boxes.png} next to it. */
  public static Path defaultOut(Path image) {
    String name = image.getFileName().toString();
    int dot = name.lastIndexOf('.');
    String stem = dot > 0 ? name.substring(0, dot) : name;
    return image.resolveSibling(stem + ".boxes.png");
  }
}
