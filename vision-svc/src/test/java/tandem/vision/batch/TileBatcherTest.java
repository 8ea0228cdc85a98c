package tandem.vision.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tandem.vision.model.TileEncoder;

class TileBatcherTest {
  /**
   * Tiles of 2 floats; output per tile = {first input float, batch size}; blocks until released.
   */
  static final class FakeEncoder implements TileEncoder {
    final List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
    final CountDownLatch gate;
    final CountDownLatch entered = new CountDownLatch(1);

    FakeEncoder(CountDownLatch gate) {
      this.gate = gate;
    }

    @Override
    public float[] encode(float[] pixels, int tiles) {
      entered.countDown();
      try {
        gate.await();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      batchSizes.add(tiles);
      float[] out = new float[tiles * 2];
      for (int t = 0; t < tiles; t++) {
        out[2 * t] = pixels[2 * t];
        out[2 * t + 1] = tiles;
      }
      return out;
    }

    @Override
    public int tileFloats() {
      return 2;
    }

    @Override
    public int outputFloatsPerTile() {
      return 2;
    }
  }

  static float[] tiles(float firstId, int n) {
    float[] p = new float[2 * n];
    for (int t = 0; t < n; t++) p[2 * t] = firstId + t;
    return p;
  }

  @Test
  void tilesOfConcurrentImagesShareForwardPassesAndComeBackToTheirOwner() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    FakeEncoder enc = new FakeEncoder(gate);
    try (TileBatcher b = new TileBatcher(enc, 8, 50)) {
      // The first batch blocks in the encoder, so everything queued meanwhile is merged afterwards.
      CompletableFuture<float[]> a = b.submit(tiles(100, 3), 3);
      assertTrue(enc.entered.await(5, TimeUnit.SECONDS));
      CompletableFuture<float[]> c = b.submit(tiles(200, 5), 5);
      CompletableFuture<float[]> d = b.submit(tiles(300, 7), 7);
      gate.countDown();
      float[] ra = a.get(5, TimeUnit.SECONDS);
      float[] rc = c.get(5, TimeUnit.SECONDS);
      float[] rd = d.get(5, TimeUnit.SECONDS);
      for (int t = 0; t < 3; t++) assertEquals(100 + t, ra[2 * t]);
      for (int t = 0; t < 5; t++) assertEquals(200 + t, rc[2 * t]);
      for (int t = 0; t < 7; t++) assertEquals(300 + t, rd[2 * t]);
      // 3 alone, then 5 + 3 of the 7 (split), then the last 4
      assertEquals(List.of(3, 8, 4), enc.batchSizes);
      assertEquals(new TileBatcher.Stats(3, 15, 8), b.stats());
    }
  }

  @Test
  void anImageWithMoreTilesThanTheCapRunsInSeveralBatches() throws Exception {
    FakeEncoder enc = new FakeEncoder(new CountDownLatch(0));
    try (TileBatcher b = new TileBatcher(enc, 4, 0)) {
      float[] r = b.submit(tiles(0, 17), 17).get(5, TimeUnit.SECONDS);
      for (int t = 0; t < 17; t++) assertEquals(t, r[2 * t]);
      assertEquals(List.of(4, 4, 4, 4, 1), enc.batchSizes);
    }
  }

  @Test
  void aSmallerPerRequestCapIsHonoured() throws Exception {
    FakeEncoder enc = new FakeEncoder(new CountDownLatch(0));
    try (TileBatcher b = new TileBatcher(enc, 8, 0)) {
      b.submit(tiles(0, 5), 5, 2).get(5, TimeUnit.SECONDS);
      assertEquals(List.of(2, 2, 1), enc.batchSizes);
    }
  }

  @Test
  void anEncoderFailureFailsOnlyThatBatchAndTheBatcherKeepsWorking() throws Exception {
    TileEncoder flaky =
        new TileEncoder() {
          int calls;

          @Override
          public float[] encode(float[] pixels, int n) {
            if (calls++ == 0) throw new IllegalStateException("out of memory, say");
            return new float[n * 2];
          }

          @Override
          public int tileFloats() {
            return 2;
          }

          @Override
          public int outputFloatsPerTile() {
            return 2;
          }
        };
    try (TileBatcher b = new TileBatcher(flaky, 8, 0)) {
      var e =
          assertThrows(
              ExecutionException.class, () -> b.submit(tiles(0, 1), 1).get(5, TimeUnit.SECONDS));
      assertTrue(e.getCause().getMessage().contains("out of memory"));
      assertEquals(2, b.submit(tiles(0, 1), 1).get(5, TimeUnit.SECONDS).length);
    }
  }

  @Test
  void pixelsOfTheWrongLengthAreRejectedAtSubmit() {
    try (TileBatcher b = new TileBatcher(new FakeEncoder(new CountDownLatch(0)), 8, 0)) {
      assertThrows(IllegalArgumentException.class, () -> b.submit(new float[3], 1));
    }
  }
}
