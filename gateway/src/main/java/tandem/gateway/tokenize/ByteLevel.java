package tandem.gateway.tokenize;

import java.io.ByteArrayOutputStream;

/**
 * GPT-2's byte-to-unicode table used by byte-level BPE: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100 onward. A vocabulary entry is a string over this alphabet; mapping
 * it back gives the token's bytes.
 */
final class ByteLevel {
  private ByteLevel() {}

  private static final int[] CHAR_TO_BYTE = new int[0x200];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      int c = printable ? b : 256 + n++;
      CHAR_TO_BYTE[c] = b;
    }
  }

  /**
   * Bytes of a vocabulary entry; a character outside the alphabet is kept as its UTF-8 (never
   * happens for Qwen).
   */
  static byte[] toBytes(String token) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
    for (int i = 0; i < token.length(); i++) {
      char ch = token.charAt(i);
      int b = ch < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[ch] : -1;
      if (b >= 0) {
        out.write(b);
      } else {
        byte[] u = String.valueOf(ch).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        out.write(u, 0, u.length);
      }
    }
    return out.toByteArray();
  }
}
