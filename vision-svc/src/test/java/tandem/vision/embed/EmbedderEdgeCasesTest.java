package tandem.vision.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.error.Rejection;
import tandem.proto.types.v1.DType;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.model.TileEncoder;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;

/**
 * Embedder edge cases: a GIF's token budget, caching of a failed request's other images, trace
 * counts.
 */
class EmbedderEdgeCasesTest {
  static final int HIDDEN = 8;

  /** Zero embeddings once the gate is open. */
  static final class GatedZeroTower implements TileEncoder {
    final CountDownLatch gate;

    GatedZeroTower(boolean open) {
      gate = new CountDownLatch(open ? 0 : 1);
    }

    @Override
    public float[] encode(float[] pixels, int n) {
      try {
        gate.await();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      return new float[n * outputFloatsPerTile()];
    }

    @Override
    public int tileFloats() {
      return 3 * 512 * 512;
    }

    @Override
    public int outputFloatsPerTile() {
      return 64 * HIDDEN;
    }
  }

  TileBatcher batcher;

  @AfterEach
  void close() {
    if (batcher != null) batcher.close();
  }

  Embedder embedder(
      GatedZeroTower tower, EmbeddingCache cache, io.opentelemetry.api.trace.Tracer tracer) {
    batcher = new TileBatcher(tower, 8, 0);
    return new Embedder(
        batcher,
        cache,
        new ImageIdRegistry(100),
        PreprocessorConfig.smolVlmDefaults(),
        new EmbedLimits(20 << 20, 50_000_000L, 8, 60),
        "zero",
        64,
        HIDDEN,
        tracer);
  }

  Embedder embedder(GatedZeroTower tower, EmbeddingCache cache) {
    return embedder(tower, cache, io.opentelemetry.api.OpenTelemetry.noop().getTracer("t"));
  }

  static byte[] png(int seed, int w, int h) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        img.setRGB(x, y, (x * 31 + y * 17 + seed * 101) * 2654435 & 0xffffff);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  /**
   * A GIF whose first frame (1000x10) is smaller than its logical screen (1000x1000): decode()
   * places the frame on the logical screen, as Pillow does, and the tiles come from the screen
   * size, so the header probe the token budget uses must report the screen (ImageIO's
   * getWidth/getHeight give the frame: 5 tiles counted, 17 encoded).
   */
  @Test
  void tokenBudgetOfAGifIsComputedFromTheSizeThatIsActuallyPreprocessed() throws Exception {
    BufferedImage frame = new BufferedImage(1000, 10, BufferedImage.TYPE_BYTE_INDEXED);
    for (int x = 0; x < 1000; x++) frame.setRGB(x, x % 10, 0xff0000);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(frame, "gif", out));
    byte[] gif = out.toByteArray();
    gif[6] = (byte) 0xE8; // logical screen 1000 x 1000, little-endian
    gif[7] = 0x03;
    gif[8] = (byte) 0xE8;
    gif[9] = 0x03;
    ImageDecoder d = ImageDecoder.withDefaults();
    assertEquals(1000, d.decode(gif).height(), "decoded on the logical screen");

    Embedder e = embedder(new GatedZeroTower(true), new EmbeddingCache(64L << 20));
    // from the 1000x10 frame: 2048x20 -> 2048x512 -> 1x4+1 = 5 tiles = 320 tokens
    // from the 1000x1000 screen that is actually preprocessed: 4x4+1 = 17 tiles = 1088 tokens
    Embedder.Call call =
        new Embedder.Call("", 320, Long.MAX_VALUE, new java.util.concurrent.CompletableFuture<>());
    Embedder.Result r;
    try {
      r = e.embed(List.of(new Embedder.ImageInput(gif, "")), DType.DTYPE_FLOAT32, 0, call);
    } catch (Rejection x) {
      assertEquals(Rejection.Kind.INVALID, x.kind(), x.toString());
      return;
    }
    fail(
        "max_image_tokens 320 was accepted, but the image was encoded as "
            + r.images().get(0).embedding().tiles()
            + " tiles = "
            + r.images().get(0).embedding().tiles() * 64
            + " image tokens");
  }

  /**
   * docs/vision-svc.md: "A failed image does not poison the server; other images of the same
   * request still get encoded and cached." Also when the bad image comes first: its refusal once
   * abandoned (cancelled) image 1's encoding.
   */
  @Test
  void aValidImageOfARequestWithABadImageIsStillEncodedAndCached() throws Exception {
    GatedZeroTower tower = new GatedZeroTower(false);
    EmbeddingCache cache = new EmbeddingCache(64L << 20);
    Embedder e = embedder(tower, cache);
    byte[] bad = "not an image at all".getBytes(StandardCharsets.US_ASCII);
    byte[] good = png(11, 64, 48);
    Rejection x =
        assertThrows(
            Rejection.class,
            () ->
                e.embed(
                    List.of(new Embedder.ImageInput(bad, ""), new Embedder.ImageInput(good, "")),
                    DType.DTYPE_FLOAT32,
                    0));
    assertEquals(Rejection.Kind.INVALID, x.kind());
    tower.gate.countDown();
    Thread.sleep(500); // give the batcher every chance to finish image 1
    Embedder.Result again =
        e.embed(List.of(new Embedder.ImageInput(good, "")), DType.DTYPE_FLOAT32, 0);
    assertTrue(
        again.images().get(0).cacheHit(),
        "the good image of the failed request was not cached (cache stats " + cache.stats() + ")");
  }

  /**
   * EmbedTrace: vision.tiles.computed = "the misses this call encoded". Two identical images in one
   * request are encoded once (the second joins the first), and counted once.
   */
  @Test
  void tilesComputedCountsAnImageEncodedOnceOnlyOnce() throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    SdkTracerProvider tp =
        SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(spans)).build();
    Embedder e = embedder(new GatedZeroTower(true), new EmbeddingCache(64L << 20), tp.get("t"));
    byte[] img = png(12, 64, 48);
    long before = batcher.stats().tiles();
    Embedder.Result r =
        e.embed(
            List.of(new Embedder.ImageInput(img, ""), new Embedder.ImageInput(img, "")),
            DType.DTYPE_FLOAT32,
            0);
    long encoded = batcher.stats().tiles() - before;
    int tiles = r.images().get(0).embedding().tiles();
    assertEquals(tiles, encoded, "encoded once");
    SpanData embed =
        spans.getFinishedSpanItems().stream()
            .filter(s -> s.getName().equals("embed"))
            .findFirst()
            .orElseThrow();
    assertEquals(
        encoded,
        embed.getAttributes().get(AttributeKey.longKey("vision.tiles.computed")),
        "vision.tiles.computed vs tiles the tower encoded for this call");
    tp.close();
  }
}
