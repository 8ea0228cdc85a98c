package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.ints;
import static tandem.decoder.model.DecoderTinyGoldensTest.json;
import static tandem.decoder.model.DecoderTinyGoldensTest.maxAbsDiff;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

/**
 * fixtures/vlm-tiny: the text model of a vision-language checkpoint (model.text_model.*, vision
 * tensors ignored).
 */
class VlmTinyTextModelTest {
  private static Qwen3ForCausalLM lm;

  @BeforeAll
  static void load() throws Exception {
    // a float32 KV cache, as the reference computes (KvCacheDtypeTest bounds what bf16 K/V changes)
    lm =
        Qwen3ForCausalLM.load(
            TinyCheckpoints.vlmTiny(),
            new DecoderOptions("cpu", "float32", 1, 640).withKvCache(0, "f32", true));
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  @Test
  void textOnlyPromptGivesTheReferenceLogitsAndPlainGreedyIds() throws Exception {
    JsonObject ref = references().getAsJsonObject("c6_text_only");
    int[] prompt = inputIds("c6_text_only");
    int[] expected = ints(ref.getAsJsonArray("greedy_plain_ids"));
    List<float[]> seen = new ArrayList<>();
    Greedy.Result r =
        Greedy.generate(lm, 0, prompt, expected.length, (k, logits) -> seen.add(logits.clone()));

    float[] want =
        Npy.read(Fixtures.path("vlm-tiny/references/c6_text_only.logits_last.npy")).floats();
    double absmax = absmax(want);
    assertTrue(
        maxAbsDiff(want, r.promptLogits()) <= 1e-4 * absmax, "logits_last within 1e-4 x absmax");
    assertArrayEquals(expected, r.ids(), "greedy_plain_ids");
    JsonArray steps = ref.getAsJsonArray("greedy_plain_steps_top8");
    for (int k = 0; k < steps.size(); k++) {
      JsonObject s = steps.get(k).getAsJsonObject();
      int[] ids = ints(s.getAsJsonArray("ids"));
      JsonArray vals = s.getAsJsonArray("logits");
      for (int j = 0; j < ids.length; j++) {
        double d = Math.abs(seen.get(k)[ids[j]] - vals.get(j).getAsDouble());
        assertTrue(d <= 1e-4 * absmax, "step " + k + " id " + ids[j] + " off by " + d);
      }
    }
  }

  @Test
  void aLongImagePromptPrefilledInChunksGivesTheReferenceLogits() throws Exception {
    // 539 merged embeddings (448 image rows): longer than one prefill chunk, so chunk 2 attends to
    // chunk 1's cache.
    Npy.Array embeds =
        Npy.read(Fixtures.path("vlm-tiny/references/c1_en_describe.inputs_embeds.npy"));
    int len = (int) embeds.shape()[0];
    assertTrue(len > Qwen3ForCausalLM.PREFILL_CHUNK);
    float[] got = lm.prefill(0, embeds.floats(), len);
    lm.release(0);
    float[] want =
        Npy.read(Fixtures.path("vlm-tiny/references/c1_en_describe.logits_last.npy")).floats();
    assertTrue(maxAbsDiff(want, got) <= 1e-4 * absmax(want), "logits_last within 1e-4 x absmax");
  }

  @Test
  void loadingTheVlmCheckpointLeavesNoTextTensorUnused() {
    assertEquals(List.of(), lm.unusedTensors());
  }

  static JsonObject references() throws Exception {
    return json(Fixtures.path("vlm-tiny/references.json")).getAsJsonObject("conversations");
  }

  static int[] inputIds(String conversation) throws Exception {
    for (JsonElement c :
        json(Fixtures.path("vlm-tiny/prompts.json")).getAsJsonArray("conversations")) {
      if (c.getAsJsonObject().get("id").getAsString().equals(conversation)) {
        return ints(c.getAsJsonObject().getAsJsonArray("input_ids"));
      }
    }
    throw new AssertionError("no conversation " + conversation);
  }

  static double absmax(float[] v) {
    double m = 0;
    for (float x : v) m = Math.max(m, Math.abs(x));
    return m;
  }
}
