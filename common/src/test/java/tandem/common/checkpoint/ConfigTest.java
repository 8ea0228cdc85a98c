package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tandem.common.testing.Fixtures;

class ConfigTest {
  @Test
  void decoderTinyIsATextOnlyQwen3WithModelPrefix() throws IOException {
    ModelConfig c = ModelConfig.fromDir(Fixtures.path("decoder-tiny"));
    assertEquals(Architecture.CAUSAL_LM, c.architecture());
    assertEquals("model.", c.textPrefix());
    assertNull(c.vision());
    Qwen3Config t = c.text();
    assertEquals(
        new Qwen3Config(
            64, 192, 2, 4, 2, 16, 1e-6, 1e6, 40960, 151936, true, 151643, List.of(151645)),
        t);
    assertEquals(64, t.qDim());
    assertEquals(32, t.kvDim());
    assertEquals(64, c.textHiddenSize());
  }

  @Test
  void visionTinyHasNoTextModelButKnowsTheConnectorWidth() throws IOException {
    ModelConfig c = ModelConfig.fromDir(Fixtures.path("vision-tiny"));
    assertEquals(Architecture.VISION_LANGUAGE, c.architecture());
    assertNull(c.text());
    assertEquals(64, c.textHiddenSize());
    assertEquals(
        new VisionConfig(64, 128, 2, 4, 16, 512, 1e-6, "gelu_pytorch_tanh", 3), c.vision());
    assertEquals(4, c.scaleFactor());
    assertEquals(1024, c.connectorInputSize());
    assertEquals(64, c.imageTokensPerTile());
    assertEquals(ModelConfig.QWEN_IMAGE_PAD_ID, c.imageTokenId());
    assertEquals("model.vision_model.", c.visionPrefix());
    assertEquals("model.connector.", c.connectorPrefix());
  }

  @Test
  void vlmTinyHasBothPartsAndTheImagePadId() throws IOException {
    ModelConfig c = ModelConfig.fromDir(Fixtures.path("vlm-tiny/checkpoint"));
    assertEquals(Architecture.VISION_LANGUAGE, c.architecture());
    assertEquals("model.text_model.", c.textPrefix());
    assertEquals(151655, c.imageTokenId());
    assertEquals(2, c.text().numHiddenLayers());
    assertEquals(16, c.vision().headDim());
    assertEquals(1024, c.vision().numPatches());
  }

  @ParameterizedTest(name = "{0} / {1}")
  @CsvSource({
    "idefics3, Idefics3ForConditionalGeneration, VISION_LANGUAGE",
    "smolvlm, SmolVLMForConditionalGeneration, VISION_LANGUAGE",
    "qwen3, Qwen3ForCausalLM, CAUSAL_LM",
  })
  void modelTypeAndArchitectureSelectTheLayout(String type, String arch, Architecture expected)
      throws IOException {
    JsonObject root =
        JsonParser.parseString(
                Files.readString(
                    Fixtures.path(
                        expected == Architecture.CAUSAL_LM
                            ? "decoder-tiny/config.json"
                            : "vlm-tiny/checkpoint/config.json")))
            .getAsJsonObject();
    root.addProperty("model_type", type);
    root.add("architectures", JsonParser.parseString("[\"" + arch + "\"]"));
    assertEquals(expected, ModelConfig.fromJson(root).architecture());
  }

  @Test
  void unknownModelIsRejectedWithWhatIsAllowed() {
    JsonObject o =
        JsonParser.parseString(
                "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"]}")
            .getAsJsonObject();
    var e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.fromJson(o));
    assertTrue(
        e.getMessage().contains("llama") && e.getMessage().contains("Qwen3ForCausalLM"),
        e.getMessage());
  }

  @Test
  void headDimDefaultsToHiddenOverHeadsAndEosAcceptsAList() {
    Qwen3Config c =
        Qwen3Config.fromJson(
            JsonParser.parseString(
                    """
                    {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 8,
                     "num_key_value_heads": 4, "vocab_size": 1000, "eos_token_id": [7, 9]}\
                    """)
                .getAsJsonObject());
    assertEquals(8, c.headDim());
    assertEquals(List.of(7, 9), c.eosTokenId());
    assertNull(c.bosTokenId());
  }

  /**
   * transformers 5 writes RoPE's base into rope_parameters; read there, it is the same model (the
   * HF default of 10,000 in its place gives wrong logits at every position past 0). A scaled RoPE,
   * which this decoder does not compute, is refused rather than ignored.
   */
  @Test
  void ropeThetaIsReadFromRopeParametersAndAScaledRopeIsRefused() {
    String base =
        "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 1,"
            + " \"num_attention_heads\": 8, \"num_key_value_heads\": 4, \"vocab_size\": 1000";
    java.util.function.Function<String, Qwen3Config> read =
        extra ->
            Qwen3Config.fromJson(
                JsonParser.parseString("{" + base + extra + "}").getAsJsonObject());
    assertEquals(
        1_000_000.0,
        read.apply(", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}")
            .ropeTheta());
    assertEquals(5e5, read.apply(", \"rope_theta\": 500000, \"rope_scaling\": null").ropeTheta());
    assertEquals(10_000.0, read.apply("").ropeTheta(), "HF's default when nothing says");
    for (String scaled :
        List.of(
            ", \"rope_theta\": 1e6, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}",
            ", \"rope_theta\": 1e6, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}",
            ", \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e6}")) {
      var e = assertThrows(IllegalArgumentException.class, () -> read.apply(scaled), scaled);
      assertTrue(e.getMessage().contains("only plain RoPE"), e.getMessage());
    }
    var none =
        assertThrows(
            IllegalArgumentException.class,
            () -> read.apply(", \"rope_parameters\": {\"rope_type\": \"default\"}"));
    assertTrue(none.getMessage().contains("rope_theta"), none.getMessage());
  }

  @ParameterizedTest(name = "{1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "\"num_key_value_heads\": 3 | num_key_value_heads",
        "\"hidden_size\": 0 | hidden_size",
        "\"eos_token_id\": 5000 | eos_token_id",
        "\"vocab_size\": -1 | vocab_size",
      })
  void invalidTextConfigNamesTheBadKey(String override, String key) {
    JsonObject o =
        JsonParser.parseString(
                """
                {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 8,
                 "num_key_value_heads": 4, "vocab_size": 1000}\
                """)
            .getAsJsonObject();
    JsonObject patch = JsonParser.parseString("{" + override + "}").getAsJsonObject();
    patch.entrySet().forEach(e -> o.add(e.getKey(), e.getValue()));
    var e = assertThrows(IllegalArgumentException.class, () -> Qwen3Config.fromJson(o));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }

  @Test
  void generationConfigReadsTheFixtureAndAnAbsentFileIsEmpty(@TempDir Path empty)
      throws IOException {
    GenerationConfig g = GenerationConfig.fromDir(Fixtures.path("decoder-tiny"));
    assertEquals(List.of(151645, 151643), g.eosTokenIds());
    assertEquals(151643, g.bosTokenId());
    assertEquals(false, g.doSample());
    assertNull(g.temperature());
    GenerationConfig v = GenerationConfig.fromDir(Fixtures.path("vlm-tiny/checkpoint"));
    assertEquals(List.of(151645), v.eosTokenIds());
    assertEquals(151643, v.padTokenId());
    assertEquals(GenerationConfig.empty(), GenerationConfig.fromDir(empty));
    assertEquals(List.of(), GenerationConfig.empty().eosTokenIds());
  }
}
