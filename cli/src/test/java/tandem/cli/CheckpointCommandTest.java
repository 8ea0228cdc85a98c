package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tandem.common.testing.Fixtures;

class CheckpointCommandTest {
  @TempDir Path dir;

  @Test
  void randomTinyPresetWithTheFixtureSeedReproducesTheReferenceFile() throws Exception {
    Path out = dir.resolve("ck");
    VlmRun r =
        VlmRun.of(
            "checkpoint",
            "random",
            "--preset",
            "tiny",
            "--trw1",
            Fixtures.path("vlm-tiny/checkpoint/trw1.json").toString(),
            "--out",
            out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("62 tensors"), r.out());
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    md.update(Files.readAllBytes(out.resolve("model.safetensors")));
    assertEquals(
        "255027c59811d4330aaf322fe706d86c506ce3aab5cae397df2508ce33e52dcc",
        HexFormat.of().formatHex(md.digest()));
    for (String f :
        new String[] {
          "config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "generation_config.json",
          "preprocessor_config.json",
          "processor_config.json"
        }) {
      assertTrue(Files.isRegularFile(out.resolve(f)), f);
    }
  }

  @Test
  void randomFromACausalLmConfigWritesModelDotNamesAndAnLmHeadOnRequest() throws Exception {
    Path out = dir.resolve("dec");
    VlmRun r =
        VlmRun.of(
            "checkpoint",
            "random",
            "--config",
            Fixtures.path("decoder-tiny/config.json").toString(),
            "--seed",
            "1234",
            "--lm-head",
            "--out",
            out.toString());
    assertEquals(0, r.code(), r.err());
    try (var s = tandem.common.checkpoint.TensorStore.open(out)) {
      assertTrue(
          s.has("model.embed_tokens.weight")
              && s.has("model.norm.weight")
              && s.has("lm_head.weight"));
    }
  }

  @ParameterizedTest(name = "{1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "--preset huge --seed 1 | unknown preset 'huge' (allowed: tiny, full)",
        "--preset tiny | give --seed N or --trw1 trw1.json",
        "--config /no/such/config.json --seed 1 | --config file /no/such/config.json does not"
            + " exist",
        "--preset tiny --seed 1 --dtype F8 | --dtype must be BF16 or F32, got F8",
      })
  void badInputGivesOneLineAndExitCodeTwo(String args, String message) {
    String[] a = ("checkpoint random --out " + dir.resolve("x") + " " + args).split(" ");
    VlmRun r = VlmRun.of(a);
    assertEquals(2, r.code());
    assertEquals("vlm: error: " + message, r.err().strip());
  }

  @Test
  void inspectPrintsTheSummaryAndExitsZeroOnACleanCheckpoint() {
    VlmRun r =
        VlmRun.of(
            "checkpoint", "inspect", tandem.common.testing.TinyCheckpoints.vlmTiny().toString());
    assertEquals(0, r.code(), r.err() + r.out());
    assertTrue(r.out().contains("architecture   VISION_LANGUAGE"), r.out());
    assertTrue(r.out().contains("up to 10 tiles = 640 image tokens per image"), r.out());
    assertTrue(r.out().contains("stop ids       151645 <|im_end|>"), r.out());
    assertTrue(r.out().contains("problems       none"), r.out());
  }

  @Test
  void inspectJsonIsParseableAndMissingFolderIsAUserError() {
    VlmRun r =
        VlmRun.of(
            "checkpoint",
            "inspect",
            "--json",
            tandem.common.testing.TinyCheckpoints.decoderTiny().toString());
    assertEquals(0, r.code(), r.err());
    var o = com.google.gson.JsonParser.parseString(r.out()).getAsJsonObject();
    assertEquals("CAUSAL_LM", o.get("architecture").getAsString());
    assertEquals(9_822_592L, o.get("total_parameters").getAsLong());
    VlmRun bad = VlmRun.of("checkpoint", "inspect", dir.resolve("none").toString());
    assertEquals(2, bad.code());
    assertEquals(
        "vlm: error: checkpoint folder " + dir.resolve("none") + " does not exist",
        bad.err().strip());
  }

  @Test
  void mergeDoraOnAPlainCheckpointRenamesNothingAndWarns() throws Exception {
    Path out = dir.resolve("merged");
    VlmRun r =
        VlmRun.of(
            "checkpoint",
            "merge-dora",
            "--in",
            tandem.common.testing.TinyCheckpoints.decoderTiny().toString(),
            "--out",
            out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("merged 0 modules"), r.out());
    assertTrue(r.out().contains("warning: no lora_A/lora_B tensors found"), r.out());
    assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")));
    VlmRun bad =
        VlmRun.of(
            "checkpoint",
            "merge-dora",
            "--in",
            dir.resolve("nope").toString(),
            "--out",
            out.toString());
    assertEquals(2, bad.code());
    assertEquals(
        "vlm: error: --in folder " + dir.resolve("nope") + " does not exist", bad.err().strip());
  }
}
