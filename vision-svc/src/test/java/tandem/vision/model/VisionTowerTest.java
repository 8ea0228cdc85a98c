package tandem.vision.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

class VisionTowerTest {
  static VisionTower visionTiny;
  static VisionTower vlmTiny;

  @BeforeAll
  static void load() throws IOException {
    visionTiny = VisionTower.load(TinyCheckpoints.visionTiny(), VisionOptions.cpu());
    vlmTiny = VisionTower.load(TinyCheckpoints.vlmTiny(), new VisionOptions("cpu", 3));
  }

  @AfterAll
  static void close() {
    visionTiny.close();
    vlmTiny.close();
  }

  @Test
  void visionTinyMatchesTheFloat64ReferenceAndLlamaCpp() throws IOException {
    float[] pv = Tiles.pixelValues(Fixtures.path("vision-tiny/goldens/image512.png"));
    float[] out = visionTiny.encode(pv, 1);
    float[] ref64 =
        Npy.read(Fixtures.path("vision-tiny/goldens/connector_output.ref64.npy")).floats();
    float[] llama =
        Npy.read(Fixtures.path("vision-tiny/goldens/connector_output.llamacpp.npy")).floats();
    assertEquals(ref64.length, out.length);
    assertTrue(maxAbsDiff(out, ref64) <= 1e-4, "max |Δ| vs ref64 = " + maxAbsDiff(out, ref64));
    assertTrue(maxAbsDiff(out, llama) <= 3e-3, "max |Δ| vs llama.cpp = " + maxAbsDiff(out, llama));
  }

  @ParameterizedTest
  @ValueSource(strings = {"a1_coffee", "a2_text_portrait", "a3_tiny_rgba", "a4_camera_gray"})
  void vlmTinyConnectorOutputMatchesTheReferenceForEveryTile(String image) throws IOException {
    Path dir = Fixtures.path("vlm-tiny/preprocess/" + image);
    Path[] tiles;
    try (var s = Files.list(dir)) {
      tiles = s.filter(p -> p.toString().endsWith(".png")).sorted().toArray(Path[]::new);
    }
    Npy.Array ref = Npy.read(Fixtures.path("vlm-tiny/vision/" + image + ".connector.npy"));
    assertEquals(tiles.length, ref.shape()[0], "tile count");
    // maxBatchTiles 3 on this tower: 7 tiles go through as 3+3+1, exercising the chunking.
    float[] out = vlmTiny.encode(Tiles.pixelValues(tiles), tiles.length);
    float[] want = ref.floats();
    double tol = 1e-4 * maxAbs(want);
    assertTrue(
        maxAbsDiff(out, want) <= tol, image + ": max |Δ| " + maxAbsDiff(out, want) + " > " + tol);
  }

  @Test
  void aBatchGivesTheSameTokensAsOneTileAtATime() throws IOException {
    Path dir = Fixtures.path("vlm-tiny/preprocess/a4_camera_gray");
    float[] pv = Tiles.pixelValues(dir.resolve("tile_00.png"), dir.resolve("tile_03.png"));
    float[] both = vlmTiny.encode(pv, 2);
    int tf = vlmTiny.tileFloats();
    float[] first = vlmTiny.encode(java.util.Arrays.copyOfRange(pv, 0, tf), 1);
    float[] second = vlmTiny.encode(java.util.Arrays.copyOfRange(pv, tf, 2 * tf), 1);
    int of = vlmTiny.outputFloatsPerTile();
    assertTrue(maxAbsDiff(java.util.Arrays.copyOfRange(both, 0, of), first) < 1e-5);
    assertTrue(maxAbsDiff(java.util.Arrays.copyOfRange(both, of, 2 * of), second) < 1e-5);
  }

  @Test
  void theModelIdDependsOnTheWeights() throws IOException {
    assertNotEquals(visionTiny.modelId(), vlmTiny.modelId());
    try (VisionTower again = VisionTower.load(TinyCheckpoints.visionTiny(), VisionOptions.cpu())) {
      assertEquals(visionTiny.modelId(), again.modelId());
    }
  }

  @Test
  void everyVisionAndConnectorTensorIsUsed() {
    assertEquals(List.of(), visionTiny.unusedTensors());
    assertEquals(List.of(), vlmTiny.unusedTensors());
  }

  @Test
  void aWrongPixelCountIsRejectedWithTheExpectedSize() {
    var e = assertThrows(IllegalArgumentException.class, () -> visionTiny.encode(new float[10], 1));
    assertTrue(e.getMessage().contains("786432"), e.getMessage());
  }

  @Test
  void geluTanhMatchesTheFormula() {
    try (var m = ai.djl.ndarray.NDManager.newBaseManager()) {
      float[] xs = {-5f, -1.5f, -0.3f, 0f, 0.7f, 2f, 6f};
      float[] got = Idefics3VisionMLP.geluTanh(m.create(xs)).toFloatArray();
      float[] want = new float[xs.length];
      IntStream.range(0, xs.length)
          .forEach(
              i -> {
                double x = xs[i];
                want[i] =
                    (float)
                        (0.5
                            * x
                            * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));
              });
      assertArrayEquals(want, got, 1e-6f);
    }
  }

  static double maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) throw new AssertionError("length " + a.length + " vs " + b.length);
    double m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
    return m;
  }

  static double maxAbs(float[] a) {
    double m = 0;
    for (float v : a) m = Math.max(m, Math.abs(v));
    return m;
  }
}
