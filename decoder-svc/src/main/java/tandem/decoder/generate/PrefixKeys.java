package tandem.decoder.generate;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import tandem.decoder.model.PrefixKey;

/**
 * Content addresses of a sequence's full KV blocks, as vLLM's prefix caching does: block i's key is
 * a SHA-256 over block i-1's key and the block's inputs, so it names the block's whole prefix. A
 * position's input is its token id, or for an image position of the prompt (the image token id) the
 * embedding row spliced there, by its exact float bits: the same image gives the same rows (the
 * vision cache), a different image, resize or tiling different ones, and a row is never mistaken
 * for a token. Keys are computed lazily as blocks fill and kept; one instance per sequence, used by
 * one thread at a time: the submitting thread computes the prompt's blocks, then hands the sequence
 * to the scheduler thread through its queue.
 */
final class PrefixKeys {
  private static final byte TOKEN = 0;
  private static final byte IMAGE_ROW = 1;

  private final int blockTokens;
  private final int promptLength;
  private final float[] imageRows;
  private final int hidden;
  private final int[] imageRowOf; // prompt position → row index, or -1
  private PrefixKey[] keys = new PrefixKey[0];
  private int count;
  private final MessageDigest md;
  private final ByteBuffer row;

  /**
   * {@code imageRowOf[p]}: the image row spliced at prompt position p, or -1 (its length is the
   * prompt's).
   */
  PrefixKeys(int blockTokens, int[] imageRowOf, float[] imageRows, int hidden) {
    this.blockTokens = blockTokens;
    this.promptLength = imageRowOf.length;
    this.imageRows = imageRows;
    this.hidden = hidden;
    this.imageRowOf = imageRowOf;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    row = ByteBuffer.allocate(Math.max(5, 1 + 4 * hidden));
  }

  /**
   * The keys of the blocks that {@code tokens[0 .. length)} fill completely (the tokens are the
   * sequence's prompt and then what it generated).
   */
  PrefixKey[] upTo(int[] tokens, int length) {
    int full = length / blockTokens;
    if (full > keys.length) keys = Arrays.copyOf(keys, Math.max(full, 2 * keys.length));
    while (count < full) {
      byte[] prev = count == 0 ? new byte[0] : toBytes(keys[count - 1]);
      md.reset();
      md.update(prev);
      for (int p = count * blockTokens; p < (count + 1) * blockTokens; p++) feed(tokens, p);
      byte[] d = md.digest();
      keys[count++] =
          new PrefixKey(ByteBuffer.wrap(d, 0, 8).getLong(), ByteBuffer.wrap(d, 8, 8).getLong());
    }
    return Arrays.copyOf(keys, full);
  }

  private void feed(int[] tokens, int p) {
    row.clear();
    int r = p < promptLength ? imageRowOf[p] : -1;
    if (r < 0) {
      row.put(TOKEN).putInt(tokens[p]);
    } else {
      row.put(IMAGE_ROW);
      for (int i = 0; i < hidden; i++)
        row.putInt(Float.floatToRawIntBits(imageRows[r * hidden + i]));
    }
    md.update(row.array(), 0, row.position());
  }

  private static byte[] toBytes(PrefixKey k) {
    return ByteBuffer.allocate(16).putLong(k.hi()).putLong(k.lo()).array();
  }
}
