package tandem.gateway.routing;

import com.google.protobuf.ByteString;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.types.v1.Tensor;

/**
 * The routing key of a conversation for decoder placement: a hash of its stable prefix, the part
 * that every later turn of the same conversation repeats word for word. That is the prompt up to
 * the end of the first turn that is not a system turn (system prompt + first user turn, in ChatML
 * {@code <|im_start|>role … <|im_end|>}), plus the images in it. A decoder that served an earlier
 * turn holds those blocks in its prefix cache.
 *
 * <p>Image tokens are all the same id, so the images are told apart by their embeddings: a hash of
 * a fixed sample of each embedding's bytes (vision-svc is deterministic and caches, so the same
 * image gives the same bytes).
 */
public final class PrefixKey {
  /**
   * Bytes of one embedding that go into the key: {@link #SAMPLES} slices of {@link #SLICE} bytes,
   * evenly spread.
   */
  static final int SAMPLES = 32;

  static final int SLICE = 64;

  private final int imStart;
  private final int imEnd;
  private final int[] systemRole;

  /**
   * @param imStart id of {@code <|im_start|>}
   * @param imEnd id of {@code <|im_end|>}
   * @param systemRole the ids of the word {@code system} as the template writes it after {@code
   *     <|im_start|>}
   */
  public PrefixKey(int imStart, int imEnd, int[] systemRole) {
    this.imStart = imStart;
    this.imEnd = imEnd;
    this.systemRole = systemRole.clone();
  }

  /**
   * Number of leading prompt ids that form the stable prefix (all of them when the prompt has no
   * turn structure).
   */
  public int prefixLength(GenerateRequest r) {
    int n = r.getInputIdsCount();
    int i = 0;
    while (i < n) {
      if (r.getInputIds(i) != imStart) {
        // text before any turn (a raw prompt): no structure to go by, the whole prompt is the key
        return n;
      }
      boolean system = startsWith(r, i + 1, systemRole);
      int end = i + 1;
      while (end < n && r.getInputIds(end) != imEnd) end++;
      if (end >= n) return n; // an open turn: the prompt ends inside it
      end++; // include <|im_end|>
      if (!system) return end;
      // skip the newline(s) after <|im_end|> up to the next turn
      i = end;
      while (i < n && r.getInputIds(i) != imStart) i++;
      if (i >= n) return n;
    }
    return n;
  }

  private static boolean startsWith(GenerateRequest r, int at, int[] ids) {
    if (ids.length == 0 || at + ids.length > r.getInputIdsCount()) return false;
    for (int k = 0; k < ids.length; k++) if (r.getInputIds(at + k) != ids[k]) return false;
    return true;
  }

  /** The key: the prefix's ids and a sample of the embeddings of the images inside the prefix. */
  public long key(GenerateRequest r) {
    int len = prefixLength(r);
    Rendezvous.Hash64 h = new Rendezvous.Hash64();
    int imageTokens = 0;
    for (int i = 0; i < len; i++) {
      int id = r.getInputIds(i);
      h.intValue(id);
      if (id == r.getImageTokenId() && r.getImageTokenId() != 0) imageTokens++;
    }
    long covered = 0;
    for (Tensor t : r.getImageEmbeddingsList()) {
      long rows = t.getShapeCount() > 0 ? t.getShape(0) : 0;
      if (covered + rows > imageTokens) break; // this image is past the prefix
      covered += rows;
      sample(h, t.getData());
    }
    return h.value();
  }

  private static void sample(Rendezvous.Hash64 h, ByteString data) {
    int size = data.size();
    h.intValue(size);
    if (size <= SAMPLES * SLICE) {
      h.bytes(data.toByteArray());
      return;
    }
    byte[] buf = new byte[SLICE];
    long stride = (size - SLICE) / (SAMPLES - 1);
    for (int s = 0; s < SAMPLES; s++) {
      data.copyTo(buf, (int) (s * stride), 0, SLICE);
      h.bytes(buf);
    }
  }
}
