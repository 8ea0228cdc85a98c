package tandem.gateway.tokenize;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token ids into text deltas that never split a UTF-8 character: byte-level BPE
 * tokens can end in the middle of a multi-byte character (a CJK character is often two tokens), so
 * the trailing bytes of an incomplete character are held back until the token that completes it
 * arrives. Bytes that can never become a valid character are emitted as U+FFFD, like Hugging Face's
 * {@code errors='replace'}. Not thread-safe; one per stream.
 */
public final class IncrementalDetokenizer {
  private final TokenBytes tokens;
  private final boolean skipSpecialTokens;
  private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

  public IncrementalDetokenizer(TokenBytes tokens, boolean skipSpecialTokens) {
    this.tokens = tokens;
    this.skipSpecialTokens = skipSpecialTokens;
  }

  /** Adds one token; returns the text that became complete (possibly empty). */
  public String push(int id) {
    if (skipSpecialTokens && tokens.isSpecial(id)) return "";
    byte[] b = tokens.tokenBytes(id);
    if (b == null)
      return ""; // padded vocabulary rows have no text (HF decodes them to nothing as well)
    pending.write(b, 0, b.length);
    return drain(false);
  }

  /**
   * Ends the stream: whatever is still held back (an incomplete character) is emitted as U+FFFD.
   */
  public String flush() {
    return drain(true);
  }

  private String drain(boolean end) {
    byte[] buf = pending.toByteArray();
    int complete = completePrefix(buf);
    int upTo = end ? buf.length : complete;
    String out = new String(buf, 0, upTo, StandardCharsets.UTF_8);
    pending.reset();
    pending.write(buf, upTo, buf.length - upTo);
    return out;
  }

  /**
   * Length of the longest prefix that does not end inside a character that could still be
   * completed. Invalid bytes count as complete (they decode to U+FFFD right away).
   */
  static int completePrefix(byte[] b) {
    int i = 0;
    while (i < b.length) {
      int lead = b[i] & 0xFF;
      int len;
      if (lead < 0x80) len = 1;
      else if (lead >= 0xC2 && lead <= 0xDF) len = 2;
      else if (lead >= 0xE0 && lead <= 0xEF) len = 3;
      else if (lead >= 0xF0 && lead <= 0xF4) len = 4;
      else len = 1; // continuation byte without lead or impossible lead: invalid now, U+FFFD
      if (len == 1) {
        i++;
        continue;
      }
      int j = 1;
      while (j < len && i + j < b.length && (b[i + j] & 0xC0) == 0x80) j++;
      if (j == len) {
        i += len;
      } else if (i + j == b.length) {
        return i; // incomplete but still valid so far: wait for more bytes
      } else {
        i += j; // broken sequence: the decoder replaces it
      }
    }
    return b.length;
  }
}
