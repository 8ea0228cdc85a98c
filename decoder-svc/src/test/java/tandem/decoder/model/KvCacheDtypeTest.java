package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.maxAbsDiff;
import static tandem.decoder.model.VlmTinyTextModelTest.absmax;

import org.junit.jupiter.api.Test;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

/**
 * What storing K/V as bfloat16 (the default) costs against the float64 reference, next to float32
 * K/V: each K/V value is rounded to 8 significant bits (relative error at most 2^-9), so the logits
 * move by a small multiple of that. Bounded here on the longest fixture prompt (539 rows, 448 of
 * them image rows).
 */
class KvCacheDtypeTest {
  @Test
  void bf16KvKeepsTheImagePromptsLogitsWithinABoundOfTheReference() throws Exception {
    Npy.Array embeds =
        Npy.read(Fixtures.path("vlm-tiny/references/c1_en_describe.inputs_embeds.npy"));
    int len = (int) embeds.shape()[0];
    float[] want =
        Npy.read(Fixtures.path("vlm-tiny/references/c1_en_describe.logits_last.npy")).floats();
    double[] err = new double[2];
    String[] kinds = {"f32", "bf16"};
    for (int k = 0; k < 2; k++) {
      DecoderOptions o =
          new DecoderOptions("cpu", "float32", 1, 640).withKvCache(0, kinds[k], true);
      try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(TinyCheckpoints.vlmTiny(), o)) {
        err[k] = maxAbsDiff(want, lm.prefill(0, embeds.floats(), len)) / absmax(want);
      }
    }
    System.out.printf("c1 logits max |err| / absmax: f32 KV %.2e, bf16 KV %.2e%n", err[0], err[1]);
    assertTrue(err[0] <= 1e-4, "f32 KV: " + err[0]);
    assertTrue(err[1] > err[0], "bf16 K/V that changed nothing would make this test vacuous");
    assertTrue(err[1] <= 2e-3, "bf16 KV: " + err[1]); // measured 2.0e-4 on 2026-12-03
  }
}
