package tandem.vision.embed;

import tandem.common.tensor.TensorCodec;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;
import tandem.vision.cache.CachedEmbedding;

/**
 * Wire format: an embedding as the tensor {@code [tiles · tokens, hidden]} of the element type the
 * caller asked for (float32, float16 or bfloat16, rounded to nearest even), written by the codec
 * decoder-svc reads it with.
 */
final class WireFormat {
  private WireFormat() {}

  static Tensor tensor(CachedEmbedding e, DType type) {
    return TensorCodec.encode(
        e.float32le(), type, (long) e.tiles() * e.tokensPerTile(), e.hidden());
  }
}
