package tandem.gateway.chat;

/**
 * A piece of a rendered prompt. Hugging Face tokenizers match added tokens first and encode the
 * text between them on its own; keeping the template's control tokens apart from text (which may
 * contain anything a user typed) makes tokenization exact and control-token injection impossible.
 */
public sealed interface Segment {
  /** Plain text: encoded by byte-level BPE, never matched against added tokens. */
  record Text(String text) implements Segment {}

  /** A control token written by the template itself (for example {@code <|im_start|>}); one id. */
  record Special(String token) implements Segment {}

  /** The k-th image of the conversation (renders as {@code <|image_pad|>} before expansion). */
  record Image(int index) implements Segment {}

  /** Renders segments back to the string Hugging Face's template would produce. */
  static String render(Iterable<Segment> segments) {
    StringBuilder sb = new StringBuilder();
    for (Segment s : segments) {
      if (s instanceof Text t) sb.append(t.text());
      else if (s instanceof Special sp) sb.append(sp.token());
      else sb.append(Tokens.IMAGE_PAD);
    }
    return sb.toString();
  }
}
