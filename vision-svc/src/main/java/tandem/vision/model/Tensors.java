package tandem.vision.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** Loads weights into torch-owned memory on the model's device. */
final class Tensors {
  private Tensors() {}

  /**
   * Copies the named tensor into an array owned by {@code manager}. The copy matters: the source buffer may be a
   * read-only mmap that the checkpoint reader unmaps on close, and torch would otherwise keep pointing into it.
   */
  static NDArray load(NDManager manager, Weights weights, String name, long... shape) {
    try (NDManager tmp = manager.newSubManager()) {
      NDArray view = tmp.create(weights.float32(name, shape), new Shape(shape), DataType.FLOAT32);
      NDArray owned = view.duplicate();
      owned.attach(manager);
      owned.setName(name);
      return owned;
    }
  }
}
