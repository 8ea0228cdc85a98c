package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;

class PreprocessCommandTest {

  @Test
  void writesTheReferencePixelValuesAndPrintsTheGridAsTheLastLine(@TempDir Path tmp)
      throws Exception {
    Path npy = tmp.resolve("pv.npy");
    VlmRun r =
        VlmRun.of(
            "preprocess",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--image",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            "--out",
            npy.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals("{\"rows\":2,\"cols\":3,\"width\":600,\"height\":400,\"tiles\":7}", r.lastLine());
    Npy.Array a = Npy.read(npy);
    assertArrayEquals(new long[] {7, 3, 512, 512}, a.shape());
    // tile 6 (the global image) hashed as the fixture does: float32 little-endian bytes of
    // [3,512,512]
    byte[] all = a.bytes();
    int n = 3 * 512 * 512 * 4;
    byte[] global = java.util.Arrays.copyOfRange(all, 6 * n, 7 * n);
    assertEquals(
        "1f2ca633af78bda4210d003256600f3077bd13a756e889521c8ac8b903f0b458",
        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(global)));
  }

  @Test
  void aFileThatIsNotAnImageIsOneErrorLineWithExitCode2(@TempDir Path tmp) throws Exception {
    Path bogus = Files.writeString(tmp.resolve("x.png"), "hello, not an image");
    VlmRun r =
        VlmRun.of(
            "preprocess",
            "--model",
            Fixtures.path("vlm-tiny/checkpoint").toString(),
            "--image",
            bogus.toString(),
            "--out",
            tmp.resolve("o.npy").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("vlm: error: --image "), r.err());
    assertTrue(r.err().contains("allowed: JPEG, PNG, GIF, BMP, WebP"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
  }

  @Test
  void aModelFolderWithoutPreprocessorConfigIsAUserError(@TempDir Path tmp) throws Exception {
    VlmRun r =
        VlmRun.of(
            "preprocess",
            "--model",
            tmp.toString(),
            "--image",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            "--out",
            tmp.resolve("o.npy").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("has no preprocessor_config.json"), r.err());
  }
}
