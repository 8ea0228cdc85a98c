package tandem.vision.cache;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Client image ids: the first use binds an id to a content hash; a later use with other bytes is refused. The
 * table is bounded ({@code maxIds}, least recently used forgotten first) so that clients minting ids cannot grow
 * it without limit; a forgotten id simply binds again on its next use.
 */
public final class ImageIdRegistry {
  /** Thrown when an id is already bound to other content. */
  public static final class ReboundException extends Exception {
    public ReboundException(String message) {
      super(message);
    }
  }

  private final int maxIds;
  private final LinkedHashMap<String, String> ids;

  public ImageIdRegistry(int maxIds) {
    if (maxIds < 1) throw new IllegalArgumentException("maxIds must be >= 1");
    this.maxIds = maxIds;
    this.ids = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
        return size() > ImageIdRegistry.this.maxIds;
      }
    };
  }

  /** Binds {@code id} to {@code contentHash}, or checks that it is already bound to the same hash. */
  public synchronized void bind(String id, String contentHash) throws ReboundException {
    String bound = ids.putIfAbsent(id, contentHash);
    if (bound != null && !bound.equals(contentHash))
      throw new ReboundException(reboundMessage(id, bound, contentHash));
  }

  public static String reboundMessage(String id, String bound, String contentHash) {
    return "image_id '" + id + "' is bound to content sha256 " + bound + " but these bytes hash to " + contentHash
        + "; use a new image_id for new content";
  }

  /** The content hash an id is bound to. */
  public synchronized Optional<String> lookup(String id) {
    return Optional.ofNullable(ids.get(id));
  }

  public synchronized int size() {
    return ids.size();
  }
}
