package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.TinyCheckpoints;

class CheckpointInspectorTest {
  @Test
  void vlmTinyIsCleanAndItsNumbersAddUp() throws Exception {
    var r = CheckpointInspector.inspect(TinyCheckpoints.vlmTiny());
    assertEquals(List.of(), r.problems());
    assertEquals(
        Map.of("vision", 181_824L, "connector", 65_536L, "text", 9_822_592L), r.parameters());
    assertEquals(20_147_432L, r.fileBytes());
    assertEquals(Map.of("BF16", 62), r.dtypes());
    // longest edge 1536 over 512 tiles: at most a 3x3 grid plus the global image
    assertEquals(
        new CheckpointInspector.ImageTokens(true, 1536, 512, 64, 10, 640), r.imageTokens());
    assertEquals(Map.of(151645, "<|im_end|>"), r.stopIds());
    assertEquals(CheckpointInspector.ChatTemplate.QWEN3_SMVL, r.chatTemplate());
    var q =
        r.tensors().stream()
            .filter(
                g -> g.pattern().equals("model.text_model.layers.{0..1}.self_attn.q_proj.weight"))
            .findFirst()
            .orElseThrow();
    assertEquals(2, q.count());
  }

  @Test
  void decoderTinyHasTwoStopIdsAndTheStockTemplate() throws Exception {
    var r = CheckpointInspector.inspect(TinyCheckpoints.decoderTiny());
    assertEquals(List.of(), r.problems());
    assertEquals(Map.of(151645, "<|im_end|>", 151643, "<|endoftext|>"), r.stopIds());
    assertEquals(CheckpointInspector.ChatTemplate.QWEN3_STOCK, r.chatTemplate());
    assertEquals(9_822_592L, r.totalParameters());
    assertEquals(null, r.imageTokens());
  }

  @Test
  void visionTinyHasOneTilePerImageAndNoTextParts(@TempDir Path dir) throws Exception {
    var r = CheckpointInspector.inspect(TinyCheckpoints.visionTiny());
    assertEquals(List.of(), r.problems());
    assertEquals(247_360L, r.totalParameters());
    assertEquals(new CheckpointInspector.ImageTokens(false, 512, 512, 64, 1, 64), r.imageTokens());
    assertEquals(CheckpointInspector.ChatTemplate.NONE, r.chatTemplate());

    // without processor_config.json HF falls back to image_seq_len 169 (spec pitfall 1)
    for (String f : List.of("config.json", "preprocessor_config.json", "model.safetensors")) {
      Files.copy(TinyCheckpoints.visionTiny().resolve(f), dir.resolve(f));
    }
    assertEquals(
        List.of(
            "processor_config.json is missing: SmolVLMProcessor would use image_seq_len 169",
            "image_seq_len 169 does not match the 64 image tokens per tile the connector produces"),
        CheckpointInspector.inspect(dir).problems());
  }

  @Test
  void brokenCheckpointListsEveryProblem(@TempDir Path dir) throws Exception {
    Path src = TinyCheckpoints.vlmTiny();
    for (String f :
        List.of(
            "config.json",
            "generation_config.json",
            "preprocessor_config.json",
            "tokenizer_config.json")) {
      Files.copy(src.resolve(f), dir.resolve(f));
    }
    Files.writeString(dir.resolve("processor_config.json"), "{\"image_seq_len\": 169}");
    SafetensorsWriter w = new SafetensorsWriter();
    try (TensorStore s = TensorStore.open(src)) {
      for (String n : s.names()) {
        if (n.equals("model.text_model.norm.weight")) continue; // missing
        TensorInfo info = s.info(n);
        if (n.equals("model.text_model.layers.0.mlp.up_proj.weight")) {
          info = new TensorInfo(n, "BF16", new long[] {64, 192}); // wrong shape, same size
        }
        w.add(info, s.raw(n));
      }
      ByteBuffer lora = ByteBuffer.allocate(4 * 64 * 2).order(ByteOrder.LITTLE_ENDIAN);
      w.add(
          new TensorInfo(
              "model.text_model.layers.0.self_attn.q_proj.lora_A.weight",
              "BF16",
              new long[] {4, 64}),
          lora);
      ByteBuffer head = s.raw("model.text_model.embed_tokens.weight");
      ByteBuffer changed = ByteBuffer.allocate(head.remaining()).put(head.duplicate());
      changed.put(0, (byte) (changed.get(0) ^ 1)).rewind();
      w.add(
          new TensorInfo(
              "lm_head.weight", "BF16", s.info("model.text_model.embed_tokens.weight").shape()),
          changed);
    }
    w.write(dir.resolve("model.safetensors"));

    List<String> p = CheckpointInspector.inspect(dir).problems();
    String all = String.join("\n", p);
    assertTrue(
        all.contains(
            "model.text_model.layers.0.mlp.up_proj.weight has shape [64, 192] but the config"
                + " expects [192, 64]"),
        all);
    assertTrue(all.contains("1 missing tensors: model.text_model.norm.weight"), all);
    assertTrue(all.contains("PEFT/LoRA tensor names found"), all);
    assertTrue(
        all.contains("1 unused tensors: model.text_model.layers.0.self_attn.q_proj.lora_A.weight"),
        all);
    assertTrue(all.contains("lm_head.weight is not bit-identical"), all);
    assertTrue(all.contains("image_seq_len 169 does not match"), all);
    assertTrue(all.contains("tokenizer.json is missing"), all);
    assertEquals(7, p.size(), all);
  }
}
