package tandem.vision.model;

import java.nio.ByteBuffer;

/**
 * Where the model's float32 weights come from, by exact Hugging Face tensor name. The checkpoint reader
 * ({@code TensorStore::float32}) fits this shape; tests can pass an in-memory map. Implementations fail with a
 * message naming the tensor when it is missing or has another shape.
 */
@FunctionalInterface
public interface Weights {
  /** Native-order float32 data of {@code name}, checked against {@code shape}. */
  ByteBuffer float32(String name, long... shape);
}
