package tandem.vision.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import tandem.common.error.Rejection;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;

class PreprocessingTest {
  /**
   * A model whose preprocessor_config.json sets do_convert_rgb=false takes RGB images only; a grey
   * one is the client's mistake (INVALID, saying why), not a server error (it was INTERNAL).
   */
  @Test
  void aNonRgbImageForAModelThatDoesNotConvertIsInvalid() throws Exception {
    BufferedImage grey = new BufferedImage(32, 24, BufferedImage.TYPE_BYTE_GRAY);
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(grey, "png", png));
    Preprocessing p =
        new Preprocessing(
            ImageDecoder.withDefaults(),
            PreprocessorConfig.fromJson("{\"do_convert_rgb\": false}"));
    CompletableFuture<CachedEmbedding> f = new CompletableFuture<>();
    assertNull(p.run(new InFlight.Miss(0, png.toByteArray(), "", f)));
    ExecutionException e = assertThrows(ExecutionException.class, f::get);
    Rejection r = (Rejection) e.getCause();
    assertEquals(Rejection.Kind.INVALID, r.kind(), r.getMessage());
    assertTrue(r.getMessage().contains("do_convert_rgb=false"), r.getMessage());
  }
}
