package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;

class CheckpointGeneratorTest {
  static Stream<Arguments> fixtures() {
    return Stream.of(
        Arguments.of(
            Named.of("decoder-tiny", (Supplier<Path>) TinyCheckpoints::decoderTiny),
            "decoder-tiny/tensors.json"),
        Arguments.of(
            Named.of("vision-tiny", (Supplier<Path>) TinyCheckpoints::visionTiny),
            "vision-tiny/tensors.json"),
        Arguments.of(
            Named.of("vlm-tiny", (Supplier<Path>) TinyCheckpoints::vlmTiny),
            "vlm-tiny/checkpoint/tensors.json"));
  }

  /** tensors.json is a bare list in vlm-tiny and {"tensors": [...]} in the other two. */
  private static Map<String, JsonObject> expectedTensors(String fixture) throws Exception {
    JsonElement root = JsonParser.parseString(Files.readString(Fixtures.path(fixture)));
    JsonArray list =
        root.isJsonArray()
            ? root.getAsJsonArray()
            : root.getAsJsonObject().getAsJsonArray("tensors");
    Map<String, JsonObject> out = new TreeMap<>();
    for (JsonElement e : list)
      out.put(e.getAsJsonObject().get("name").getAsString(), e.getAsJsonObject());
    return out;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void generatedCheckpointReproducesEveryTensorHashOfTheFixture(
      Supplier<Path> checkpoint, String tensorsJson) throws Exception {
    Map<String, JsonObject> expected = expectedTensors(tensorsJson);
    try (TensorStore store = TensorStore.open(checkpoint.get())) {
      assertEquals(expected.keySet(), store.names());
      for (JsonObject e : expected.values()) {
        String name = e.get("name").getAsString();
        TensorInfo info = store.info(name);
        assertEquals(e.get("dtype").getAsString(), info.dtype(), name);
        assertArrayEquals(Configs.GSON.fromJson(e.get("shape"), long[].class), info.shape(), name);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(store.raw(name));
        assertEquals(e.get("sha256").getAsString(), HexFormat.of().formatHex(md.digest()), name);
      }
      assertTrue(store.unused().isEmpty());
    }
  }

  @Test
  void vlmTinyFileIsByteIdenticalToTheOneTheReferencesUsed() throws Exception {
    // vlm-tiny/README.md: 20147432 bytes, sha256 255027c5..., same header conventions as our writer
    Path file = TinyCheckpoints.vlmTiny().resolve("model.safetensors");
    assertEquals(20147432L, Files.size(file));
    assertEquals("255027c59811d4330aaf322fe706d86c506ce3aab5cae397df2508ce33e52dcc", sha256(file));
  }

  @Test
  void tokenizerJsonIsTheNpmFileByteForByte() throws Exception {
    Path file = TinyCheckpoints.decoderTiny().resolve("tokenizer.json");
    assertEquals(11422654L, Files.size(file));
    assertEquals("aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4", sha256(file));
  }

  @Test
  void vlmTokenizerConfigCarriesTheSmvlChatTemplateLikeTheFixture(@TempDir Path tmp)
      throws Exception {
    Path out = Files.createDirectory(tmp.resolve("vlm"));
    CheckpointGenerator.writeTokenizer(out, true);
    JsonObject mine =
        JsonParser.parseString(Files.readString(out.resolve("tokenizer_config.json")))
            .getAsJsonObject();
    JsonObject fixture =
        JsonParser.parseString(
                Files.readString(Fixtures.path("vlm-tiny/checkpoint/tokenizer_config.json")))
            .getAsJsonObject();
    assertEquals(fixture, mine);

    Path text = Files.createDirectory(tmp.resolve("text"));
    CheckpointGenerator.writeTokenizer(text, false);
    JsonObject stock =
        JsonParser.parseString(Files.readString(text.resolve("tokenizer_config.json")))
            .getAsJsonObject();
    assertEquals(
        JsonParser.parseString(
            Files.readString(Fixtures.path("decoder-tiny/tokenizer_config.json"))),
        stock);
    assertFalse(
        stock.get("chat_template").getAsString().contains("image"),
        "stock Qwen3 template renders no images");
  }

  @Test
  void tinyPresetWritesTheVlmTinyFilesAndWeights(@TempDir Path out) throws Exception {
    CheckpointGenerator.generate(
        CheckpointGenerator.Preset.TINY,
        out,
        CheckpointGenerator.Options.fromTrw1Json(Fixtures.path("vlm-tiny/checkpoint/trw1.json")));
    for (String f :
        new String[] {
          "config.json",
          "preprocessor_config.json",
          "processor_config.json",
          "generation_config.json"
        }) {
      assertEquals(
          JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/checkpoint/" + f))),
          JsonParser.parseString(Files.readString(out.resolve(f))),
          f);
    }
    assertEquals(
        "255027c59811d4330aaf322fe706d86c506ce3aab5cae397df2508ce33e52dcc",
        sha256(out.resolve("model.safetensors")));
  }

  @Test
  void fullPresetLayoutHasTheRealModelsParameterCount() throws Exception {
    ModelConfig cfg;
    try (var in =
        CheckpointGenerator.class.getResourceAsStream("/tandem/presets/full/config.json")) {
      cfg =
          ModelConfig.fromJson(
              JsonParser.parseString(new String(in.readAllBytes(), "UTF-8")).getAsJsonObject());
    }
    long vision = 0;
    long connector = 0;
    long text = 0;
    var layout = CheckpointGenerator.layout(cfg, false, "BF16");
    for (TensorInfo t : layout) {
      if (t.name().startsWith("model.vision_model.")) vision += t.numel();
      else if (t.name().startsWith("model.connector.")) connector += t.numel();
      else text += t.numel();
    }
    // the real model's parameter count (vision tower + connector + Qwen3-0.6B text model):
    // 86,433,024 + 12,582,912 + 596,049,920 = 695,065,856 (lm_head tied, not stored)
    assertEquals(86_433_024L, vision);
    assertEquals(12_582_912L, connector);
    assertEquals(596_049_920L, text);
    assertFalse(layout.stream().anyMatch(t -> t.name().equals("lm_head.weight")));
    assertTrue(
        CheckpointGenerator.layout(cfg, true, "BF16").stream()
            .anyMatch(t -> t.name().equals("lm_head.weight")));
    assertEquals(64, cfg.imageTokensPerTile());
  }

  static String sha256(Path file) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (var in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
