package tandem.cli.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.proto.gateway.v1.Box;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecoder;

class BoxDrawerTest {

  /**
   * A GIF whose first frame is smaller than its logical screen: vision-svc (like Pillow) decodes it
   * to the logical screen size, and the gateway's box pixels are in that coordinate space. The
   * drawn image must be that size too, with the box where the gateway put it.
   */
  @Test
  void aGifFrameSmallerThanItsLogicalScreenIsDrawnInTheGatewaysCoordinates(@TempDir Path tmp)
      throws Exception {
    byte[] r = new byte[16], g = new byte[16], b = new byte[16];
    for (int i = 0; i < 16; i++) {
      r[i] = (byte) (i * 16);
      g[i] = (byte) (255 - i * 7);
      b[i] = (byte) (i * 3);
    }
    BufferedImage frame =
        new BufferedImage(
            100, 50, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 16, r, g, b));
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    ImageIO.write(frame, "gif", bos);
    byte[] gif = bos.toByteArray();
    gif[6] = (byte) 200; // logical screen 200 x 100 (little-endian), frame 100 x 50 at 0,0
    gif[7] = 0;
    gif[8] = 100;
    gif[9] = 0;
    Path in = Files.write(tmp.resolve("anim.gif"), gif);

    DecodedImage decoded = ImageDecoder.withDefaults().decode(gif);
    assertEquals(200, decoded.width(), "vision-svc's view of the image");
    assertEquals(100, decoded.height(), "vision-svc's view of the image");

    // the box the gateway sends for norm [500,500,1000,1000] of that 200 x 100 image
    Box box =
        Box.newBuilder()
            .setLabel("x")
            .setParsed(true)
            .addAllNorm(List.of(500.0, 500.0, 1000.0, 1000.0))
            .addAllPixels(List.of(100.0, 50.0, 200.0, 100.0))
            .build();
    Path out = tmp.resolve("anim.boxes.png");
    new BoxDrawer().draw(in, List.of(box), out);
    BufferedImage drawn = ImageIO.read(out.toFile());
    assertEquals(
        decoded.width() + "x" + decoded.height(),
        drawn.getWidth() + "x" + drawn.getHeight(),
        "the drawn image must have the size the box pixels refer to");
  }
}
