package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;

/**
 * Where the model's float32 weights come from, by exact Hugging Face tensor name. The checkpoint
 * reader ({@code TensorStore::float32}) fits this shape; tests can pass an in-memory map.
 * Implementations fail with a message naming the tensor when it is missing or has another shape.
 */
@FunctionalInterface
public interface WeightSource {
  /** Native-order float32 data of {@code name}, checked against {@code shape}. */
  ByteBuffer float32(String name, long... shape);

  /**
   * The named tensor as an array owned by {@code owner}, on its device. A copy, not a view: the
   * source buffer may be a read-only mmap that the checkpoint reader unmaps on close, and torch
   * would otherwise keep pointing into it.
   */
  default NDArray load(NDManager owner, String name, long... shape) {
    try (NDManager tmp = owner.newSubManager()) {
      NDArray view = tmp.create(float32(name, shape), new Shape(shape), DataType.FLOAT32);
      NDArray owned = view.duplicate();
      owned.attach(owner);
      owned.setName(name);
      return owned;
    }
  }
}
