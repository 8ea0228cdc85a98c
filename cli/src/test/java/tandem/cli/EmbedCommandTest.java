package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

class EmbedCommandTest {
  static VlmRun embed(Path out) throws Exception {
    return VlmRun.of(
        "embed",
        "--model",
        TinyCheckpoints.vlmTiny().toString(),
        "--image",
        Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg").toString(),
        "--out",
        out.toString());
  }

  @Test
  void anImageGoesThroughPreprocessingAndTheTowerToTheReferenceTokens(@TempDir Path tmp)
      throws Exception {
    Path npy = tmp.resolve("tokens.npy");
    VlmRun r = embed(npy);
    assertEquals(0, r.code(), r.err());
    String last = r.out().strip().lines().reduce((a, b) -> b).orElseThrow();
    assertTrue(
        last.startsWith(
            "{\"tiles\":4,\"tokens_per_tile\":64,\"hidden\":64,\"rows\":1,\"cols\":3,\"width\":384,\"height\":120,"),
        last);
    Npy.Array got = Npy.read(npy);
    assertArrayEquals(new long[] {4, 64, 64}, got.shape());
    float[] want = Npy.read(Fixtures.path("vlm-tiny/vision/a4_camera_gray.connector.npy")).floats();
    float[] g = got.floats();
    double absmax = 0, diff = 0;
    for (int i = 0; i < want.length; i++) {
      absmax = Math.max(absmax, Math.abs(want[i]));
      diff = Math.max(diff, Math.abs(g[i] - want[i]));
    }
    assertTrue(diff <= 1e-4 * absmax, "max |Δ| " + diff);
  }

  @Test
  void pixelValuesOfTheWrongShapeAreOneErrorLineWithExitCode2(@TempDir Path tmp) throws Exception {
    Path bad = tmp.resolve("bad.npy");
    Npy.writeFloat32(bad, new float[3 * 8 * 8], 1, 3, 8, 8);
    VlmRun r =
        VlmRun.of(
            "embed",
            "--model",
            TinyCheckpoints.visionTiny().toString(),
            "--pixels",
            bad.toString(),
            "--out",
            tmp.resolve("o.npy").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("vlm: error: --pixels "), r.err());
    assertTrue(r.err().contains("expected float32 (<f4) [n,3,512,512]"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
  }

  @Test
  void aMissingModelFolderIsAUserError(@TempDir Path tmp) {
    VlmRun r =
        VlmRun.of(
            "embed",
            "--model",
            tmp.resolve("nope").toString(),
            "--pixels",
            "x.npy",
            "--out",
            "o.npy");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("is not a folder"), r.err());
  }

  @Test
  void pixelsAndImageTogetherAreRejected(@TempDir Path tmp) {
    VlmRun r =
        VlmRun.of(
            "embed",
            "--model",
            tmp.toString(),
            "--pixels",
            "x.npy",
            "--image",
            "y.png",
            "--out",
            "o.npy");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("mutually exclusive"), r.err());
  }

  /**
   * The last stdout line of {@code vlm embed} is documented as a stable JSON summary that outside
   * checks parse. Under a user locale with a decimal comma (LANG=de_DE.UTF-8 makes that the JVM
   * default) load_ms / encode_ms must still be JSON numbers.
   */
  @Test
  void theJsonSummaryIsValidJsonUnderADecimalCommaLocale(@TempDir Path tmp) throws Exception {
    Locale saved = Locale.getDefault();
    VlmRun r;
    try {
      Locale.setDefault(Locale.GERMANY);
      r = embed(tmp.resolve("tokens.npy"));
    } finally {
      Locale.setDefault(saved);
    }
    assertEquals(0, r.code(), r.err());
    String last = r.lastLine();
    assertTrue(
        last.matches(".*\"load_ms\":-?\\d+(\\.\\d+)?,\"encode_ms\":-?\\d+(\\.\\d+)?\\}"),
        "not valid JSON numbers: " + last);
    JsonObject o = JsonParser.parseString(last).getAsJsonObject();
    assertTrue(o.get("encode_ms").getAsJsonPrimitive().isNumber(), last);
  }
}
