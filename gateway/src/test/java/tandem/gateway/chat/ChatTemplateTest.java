package tandem.gateway.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.Fixtures;

class ChatTemplateTest {
  static String render(List<Message> m, boolean agp, Boolean think) {
    return Segment.render(ChatTemplate.render(m, agp, think));
  }

  @Test
  void theSeedDemoPromptIsReproducible() {
    // The seed demo: one user turn of [text 简短回复问题., image, question], add_generation_prompt false.
    List<Message> m =
        List.of(
            Message.ofParts(
                Role.USER, List.of(Part.text("简短回复问题."), Part.image("x"), Part.text("图片里有什么?"))));
    assertEquals(
        "<|im_start|>user\n简短回复问题.<|image_pad|>\n图片里有什么?<|im_end|>\n", render(m, false, false));
  }

  @Test
  void enableThinkingFalseAddsTheEmptyThinkBlockAndTrueOrUndefinedDoNot() {
    List<Message> m = List.of(Message.ofString(Role.USER, "hi"));
    assertEquals(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        render(m, true, false));
    assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", render(m, true, true));
    assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", render(m, true, null));
  }

  @Test
  void aLastAssistantTurnAfterTheQueryGetsTheThinkBlockAsInTraining() {
    List<Message> m =
        List.of(Message.ofString(Role.USER, "q"), Message.ofString(Role.ASSISTANT, "\nanswer"));
    assertEquals(
        "<|im_start|>user\n"
            + "q<|im_end|>\n"
            + "<|im_start|>assistant\n"
            + "<think>\n\n"
            + "</think>\n\n"
            + "answer<|im_end|>\n",
        render(m, false, false));
  }

  @Test
  void reasoningInAnAssistantTurnIsSplitLikeTheJinjaTemplate() {
    List<Message> m =
        List.of(
            Message.ofString(Role.USER, "q"),
            Message.ofString(Role.ASSISTANT, "<think>\nhmm\n</think>\n\nok"),
            Message.ofString(Role.USER, "q2"));
    // Before the last query: reasoning dropped, content after </think> kept.
    assertEquals(
        "<|im_start|>user\n"
            + "q<|im_end|>\n"
            + "<|im_start|>assistant\n"
            + "ok<|im_end|>\n"
            + "<|im_start|>user\n"
            + "q2<|im_end|>\n",
        render(m, false, null));
  }

  @Test
  void aSystemMessageAfterTheFirstIsRenderedAsATurn() {
    List<Message> m = List.of(Message.ofString(Role.USER, "a"), Message.ofString(Role.SYSTEM, "s"));
    assertEquals(
        "<|im_start|>user\na<|im_end|>\n<|im_start|>system\ns<|im_end|>\n", render(m, false, null));
  }

  @Test
  void imagesOutsideUserMessagesAndEmptyConversationsAreRefused() {
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                ChatTemplate.render(
                    List.of(Message.ofParts(Role.SYSTEM, List.of(Part.image("x")))), true, false));
    assertTrue(e.getMessage().contains("user messages only"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ChatTemplate.render(List.of(), true, false));
    assertThrows(IllegalArgumentException.class, () -> Role.parse("tool"));
  }

  @Test
  void expansionRefusesAGridCountThatDoesNotMatchThePlaceholders() {
    var segs =
        ChatTemplate.render(
            List.of(Message.ofParts(Role.USER, List.of(Part.image("x")))), true, false);
    assertThrows(IllegalArgumentException.class, () -> ImageExpansion.expand(segs, List.of(), 64));
  }

  @Test
  void theFixtureCheckpointTemplateIsKnown() throws Exception {
    ChatTemplates.requireKnown(Fixtures.path("vlm-tiny/checkpoint"));
  }

  @Test
  void aCheckpointWithAnotherTemplateIsRefusedWithAMessageThatSaysSo(@TempDir Path dir)
      throws Exception {
    // The stock Qwen3 template (drops image items): serving it would silently build another prompt.
    Files.copy(
        ChatTemplates.class.getResourceAsStream("/tandem/tokenizer/qwen3-tokenizer_config.json"),
        dir.resolve("tokenizer_config.json"));
    var e = assertThrows(IllegalStateException.class, () -> ChatTemplates.requireKnown(dir));
    assertTrue(e.getMessage().contains("not the Qwen3-SmVL template"), e.getMessage());
    Files.writeString(dir.resolve("tokenizer_config.json"), "{}");
    e = assertThrows(IllegalStateException.class, () -> ChatTemplates.requireKnown(dir));
    assertTrue(e.getMessage().contains("no chat_template"), e.getMessage());
  }

  @Test
  void whitespaceLayoutOfTheTemplateDoesNotMatter() {
    String t = ChatTemplates.known();
    assertTrue(ChatTemplates.sameTemplate(t, t.replace("\n", "\n\n  ")));
  }
}
