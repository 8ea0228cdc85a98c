package tandem.gateway.chat;

/**
 * Drops a leading empty think block ({@code <think>\n\n</think>\n\n}) from streamed text. The model
 * was trained with that block before every answer; when the prompt does not already contain it
 * (enable_thinking true or undefined) the model writes it itself. Text is held back only while it
 * is still a prefix of the block. A non-empty think block is real reasoning and is passed through.
 * Not thread-safe; one per stream.
 */
public final class ThinkBlockStripper {
  public static final String EMPTY_BLOCK = "<think>\n\n</think>\n\n";

  private final StringBuilder held = new StringBuilder();
  private boolean decided;

  /** Feeds a delta; returns what may be shown now. */
  public String push(String delta) {
    if (decided) return delta;
    held.append(delta);
    String h = held.toString();
    if (h.length() >= EMPTY_BLOCK.length()) {
      decided = true;
      held.setLength(0);
      return h.startsWith(EMPTY_BLOCK) ? h.substring(EMPTY_BLOCK.length()) : h;
    }
    if (EMPTY_BLOCK.startsWith(h)) return "";
    decided = true;
    held.setLength(0);
    return h;
  }

  /** Ends the stream: a partial block prefix that never completed is shown as it was. */
  public String flush() {
    decided = true;
    String h = held.toString();
    held.setLength(0);
    return h;
  }

  /** The same rule on a whole string. */
  public static String strip(String text) {
    return text.startsWith(EMPTY_BLOCK) ? text.substring(EMPTY_BLOCK.length()) : text;
  }
}
