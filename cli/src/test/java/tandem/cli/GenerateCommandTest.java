package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

class GenerateCommandTest {

  @Test
  void generatePrintsTheGreedyIdsAsItsLastLineAndWritesTheLogits(@TempDir Path tmp)
      throws Exception {
    Path npy = tmp.resolve("last.npy");
    VlmRun r =
        VlmRun.of(
            "generate",
            "--model",
            TinyCheckpoints.decoderTiny().toString(),
            "--input-ids",
            "9707,11,1879,0",
            "--max-new-tokens",
            "5",
            "--logits-out",
            npy.toString());
    assertEquals(0, r.code(), r.err());
    JsonArray ids = JsonParser.parseString(r.lastLine()).getAsJsonObject().getAsJsonArray("ids");
    JsonArray golden =
        JsonParser.parseString(Files.readString(Fixtures.path("decoder-tiny/goldens/hello.json")))
            .getAsJsonObject()
            .getAsJsonObject("ref64")
            .getAsJsonArray("greedy");
    assertEquals(5, ids.size());
    for (int i = 0; i < 5; i++)
      assertEquals(golden.get(i).getAsInt(), ids.get(i).getAsInt(), "id " + i);

    Npy.Array got = Npy.read(npy);
    float[] want =
        Npy.read(Fixtures.path("decoder-tiny/goldens/hello.ref64.last_logits.npy")).floats();
    assertEquals(151936, got.shape()[0]);
    float[] g = got.floats();
    for (int i = 0; i < want.length; i++)
      assertTrue(Math.abs(g[i] - want[i]) <= 1e-3, "logit " + i);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "9707,x,0       | is not a token id",
        "''             | --input-ids is empty",
        "9707,-3        | negative",
        "9707,151936    | outside the vocabulary [0, 151936)",
      })
  void badInputIdsAreOneLineErrorsWithExitCode2(String ids, String message) {
    VlmRun r =
        VlmRun.of(
            "generate", "--model", TinyCheckpoints.decoderTiny().toString(), "--input-ids", ids);
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("vlm: error: ") && r.err().contains(message), r.err());
    assertEquals(1, r.err().strip().split("\n").length, r.err());
  }

  @Test
  void aMissingModelFolderIsAOneLineError(@TempDir Path tmp) {
    VlmRun r =
        VlmRun.of("generate", "--model", tmp.resolve("nope").toString(), "--input-ids", "1,2");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("is not a folder"), r.err());
  }
}
