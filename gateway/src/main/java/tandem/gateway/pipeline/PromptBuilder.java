package tandem.gateway.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import tandem.common.error.Rejection;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.Grid;
import tandem.gateway.chat.ImageExpansion;
import tandem.gateway.chat.Segment;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * The prompt of a chat, without I/O: the template rendered to segments, a lower bound of its text
 * tokens (for the budget check before any image is encoded), and the final ids once vision-svc gave
 * the tile grids.
 */
public final class PromptBuilder {
  /**
   * Text next to an image is encoded together with the expansion's text; the merge can only
   * re-split the pieces at the two boundaries, so the standalone count minus this is a safe lower
   * bound for the budget check.
   */
  static final int MERGE_SLACK = 16;

  private final QwenTokenizer tokenizer;
  private final int imageSeqLen;
  private final int imageTokenId;

  public PromptBuilder(QwenTokenizer tokenizer, int imageSeqLen, int imageTokenId) {
    this.tokenizer = tokenizer;
    this.imageSeqLen = imageSeqLen;
    this.imageTokenId = imageTokenId;
  }

  /** The conversation through the chat template; a conversation the template refuses is INVALID. */
  public List<Segment> render(ChatInput in) {
    try {
      return ChatTemplate.render(
          in.messages(),
          in.addGenerationPrompt(),
          in.enableThinking() != null ? in.enableThinking() : Boolean.FALSE);
    } catch (IllegalArgumentException e) {
      throw Rejection.invalid(e.getMessage());
    }
  }

  /**
   * Checks a running token count against the budget; called after every piece so a huge text stops
   * early.
   */
  public interface Budget {
    void check(long tokensSoFar);
  }

  /**
   * Text tokens of the rendered prompt (a lower bound where text touches an image), each part
   * bounded by its byte length before it reaches the tokenizer; {@code memo} keeps the encodings
   * for {@link #ids}.
   */
  public long textTokens(List<Segment> rendered, Map<String, int[]> memo, Budget budget) {
    long textTokens = 0;
    for (int k = 0; k < rendered.size(); k++) {
      Segment s = rendered.get(k);
      if (s instanceof Segment.Special) {
        textTokens++;
        continue;
      }
      if (!(s instanceof Segment.Text t)) continue;
      boolean nextToImage =
          (k > 0 && rendered.get(k - 1) instanceof Segment.Image)
              || (k + 1 < rendered.size() && rendered.get(k + 1) instanceof Segment.Image);
      long atLeast =
          (tandem.gateway.limits.InputLimits.utf8Length(t.text()) + tokenizer.maxTokenBytes() - 1)
              / tokenizer.maxTokenBytes();
      budget.check(textTokens + (nextToImage ? Math.max(0, atLeast - MERGE_SLACK) : atLeast));
      int n = memo.computeIfAbsent(t.text(), tokenizer::encodeText).length;
      textTokens += nextToImage ? Math.max(0, n - MERGE_SLACK) : n;
      budget.check(textTokens);
    }
    return textTokens;
  }

  /** The prompt's ids and how many of them are image tokens. */
  public record Prompt(int[] ids, int imageTokens) {}

  /** Expands each image placeholder to its grid's tokens and tokenizes the whole prompt. */
  public Prompt ids(List<Segment> rendered, List<Grid> grids, Map<String, int[]> memo) {
    int[] ids =
        tokenizer.encode(
            ImageExpansion.expand(rendered, new ArrayList<>(grids), imageSeqLen), memo);
    int imageTokens = 0;
    for (int id : ids) if (id == imageTokenId) imageTokens++;
    return new Prompt(ids, imageTokens);
  }
}
