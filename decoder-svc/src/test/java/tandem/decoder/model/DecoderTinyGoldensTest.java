package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

/**
 * fixtures/decoder-tiny: greedy ids, per-step top-5 logits and last-position logits against the
 * float64 reference.
 */
class DecoderTinyGoldensTest {
  private static Qwen3ForCausalLM lm;

  @BeforeAll
  static void load() throws Exception {
    // a float32 KV cache: the goldens are float64, and bf16 K/V alone moves these flat random
    // logits past 1e-3
    lm =
        Qwen3ForCausalLM.load(
            TinyCheckpoints.decoderTiny(),
            new DecoderOptions("cpu", "float32", 2, 128).withKvCache(0, "f32", true));
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"hello", "single", "chat", "random64"})
  void greedyIdsAndTopLogitsMatchTheFloat64Reference(String seq) throws Exception {
    JsonObject golden =
        json(Fixtures.path("decoder-tiny/goldens/" + seq + ".json")).getAsJsonObject("ref64");
    int[] prompt = ints(json(Fixtures.path("sequences.json")).getAsJsonArray(seq));
    int[] expected = ints(golden.getAsJsonArray("greedy"));
    JsonArray steps = golden.getAsJsonArray("steps");
    List<float[]> seen = new ArrayList<>();
    Greedy.Result r =
        Greedy.generate(lm, 1, prompt, expected.length, (k, logits) -> seen.add(logits.clone()));

    assertArrayEquals(expected, r.ids(), seq + ": greedy ids");
    for (int k = 0; k < steps.size(); k++) {
      for (var e : steps.get(k).getAsJsonObject().getAsJsonArray("top")) {
        int id = e.getAsJsonArray().get(0).getAsInt();
        double want = e.getAsJsonArray().get(1).getAsDouble();
        double got = seen.get(k)[id];
        assertTrue(
            Math.abs(got - want) <= 1e-3,
            seq + " step " + k + " id " + id + ": " + got + " vs " + want);
      }
    }
    if (seq.equals("hello")
        || seq.equals("chat")) { // the fixtures ship last-position logits for these two
      float[] want =
          Npy.read(Fixtures.path("decoder-tiny/goldens/" + seq + ".ref64.last_logits.npy"))
              .floats();
      assertEquals(want.length, r.promptLogits().length);
      double maxDiff = maxAbsDiff(want, r.promptLogits());
      assertTrue(maxDiff <= 1e-3, seq + ": last-position logits max |Δ| " + maxDiff);
    }
    assertEquals(0, lm.length(1), "generate releases its slot");
  }

  static double maxAbsDiff(float[] a, float[] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
    return m;
  }

  static JsonObject json(Path p) throws Exception {
    return JsonParser.parseString(Files.readString(p)).getAsJsonObject();
  }

  static int[] ints(JsonArray a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
    return out;
  }
}
