package tandem.vision.embed;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import tandem.common.error.Rejection;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.embed.Embedder.ImageInput;

/**
 * Key: what an image's embedding is cached under. Bytes are hashed; an id sent alone stands for the
 * bytes it was bound to in the caller's scope. Ids are only checked here and bound by {@link #bind}
 * once the request's images are embedded, so a corrupt upload cannot claim an id.
 */
final class ImageKeys {
  private final ImageIdRegistry ids;
  private final String preprocessKey;
  private final String modelId;

  ImageKeys(ImageIdRegistry ids, String preprocessKey, String modelId) {
    this.ids = ids;
    this.preprocessKey = preprocessKey;
    this.modelId = modelId;
  }

  /** The cache key of image {@code i}, which {@link RequestCheck#image} has let through. */
  CacheKey key(int i, ImageInput in, String scope) {
    String hash;
    if (in.hasData()) {
      hash = sha256Hex(in.data());
      if (in.hasId()) {
        Optional<String> bound = ids.lookup(scope, in.imageId());
        if (bound.isPresent() && !bound.get().equals(hash)) {
          throw Rejection.invalid(
              "image " + i + ": " + ImageIdRegistry.reboundMessage(in.imageId()));
        }
      }
    } else {
      // another scope's id is unknown here, word for word as an id nobody bound
      hash =
          ids.lookup(scope, in.imageId())
              .orElseThrow(
                  () ->
                      Rejection.notFound(
                          "image "
                              + i
                              + ": image_id '"
                              + in.imageId()
                              + "' is not known to this server; send the image bytes with it"));
    }
    return new CacheKey(hash, preprocessKey, modelId);
  }

  /** Binds the ids that came with bytes to those bytes' hashes. */
  void bind(String scope, List<ImageInput> images, CacheKey[] keys) {
    for (int i = 0; i < images.size(); i++) {
      ImageInput in = images.get(i);
      if (!in.hasId() || !in.hasData()) continue;
      try {
        ids.bind(scope, in.imageId(), keys[i].contentHash());
      } catch (
          ImageIdRegistry.ReboundException
              e) { // a concurrent request bound it to other bytes first
        throw Rejection.invalid("image " + i + ": " + e.getMessage());
      }
    }
  }

  static String sha256Hex(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
