package tandem.vision.cache;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Client image ids: the first use binds an id to a content hash; a later use with other bytes is
 * refused. Ids live in a scope (the client, as the gateway names it): the same id in two scopes are
 * two ids, so one client can neither read another's image by its id nor pre-bind an id another will
 * use. The table is bounded ({@code maxIds}, least recently used forgotten first) so that clients
 * minting ids cannot grow it without limit; a forgotten id simply binds again on its next use. No
 * message names a content hash (it would tell a client what another one sent).
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
    this.ids =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > ImageIdRegistry.this.maxIds;
          }
        };
  }

  /**
   * Binds {@code id} to {@code contentHash}, or checks that it is already bound to the same hash.
   */
  public void bind(String id, String contentHash) throws ReboundException {
    bind("", id, contentHash);
  }

  /** {@link #bind(String, String)} within {@code scope}. */
  public synchronized void bind(String scope, String id, String contentHash)
      throws ReboundException {
    String bound = ids.putIfAbsent(key(scope, id), contentHash);
    if (bound != null && !bound.equals(contentHash)) throw new ReboundException(reboundMessage(id));
  }

  public static String reboundMessage(String id) {
    return "image_id '"
        + id
        + "' is already bound to other image bytes; use a new image_id for new content";
  }

  /** The content hash an id is bound to. */
  public Optional<String> lookup(String id) {
    return lookup("", id);
  }

  /** {@link #lookup(String)} within {@code scope}. */
  public synchronized Optional<String> lookup(String scope, String id) {
    return Optional.ofNullable(ids.get(key(scope, id)));
  }

  private static String key(String scope, String id) {
    return scope + '\u0000'
        + id; // NUL cannot occur in a scope the gateway sends, so scopes never collide
  }

  public synchronized int size() {
    return ids.size();
  }
}
