package tandem.common.checkpoint;

import java.util.Arrays;

/**
 * One tensor's header entry in a safetensors file: its name, dtype ("BF16", "F16", "F32", ...) and
 * shape.
 */
public record TensorInfo(String name, String dtype, long[] shape) {
  public TensorInfo {
    shape = shape.clone();
    // a header is input: a negative dimension or a product past 2^63 would make every size computed
    // from it wrong
    long n = 1;
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) {
        throw new IllegalArgumentException(
            "tensor "
                + name
                + " has a negative dimension "
                + shape[i]
                + " in shape "
                + Arrays.toString(shape));
      }
      try {
        n = Math.multiplyExact(n, shape[i]);
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException(
            "tensor "
                + name
                + " has shape "
                + Arrays.toString(shape)
                + " whose element count overflows a 64-bit integer");
      }
    }
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Number of elements (1 for a scalar). */
  public long numel() {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  /** Bytes per element of this dtype; fails for dtypes safetensors does not define. */
  public int elementSize() {
    return elementSize(dtype);
  }

  static int elementSize(String dtype) {
    return switch (dtype) {
      case "F64", "I64", "U64" -> 8;
      case "F32", "I32", "U32" -> 4;
      case "BF16", "F16", "I16", "U16" -> 2;
      case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
      default -> throw new IllegalArgumentException("unknown safetensors dtype " + dtype);
    };
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t
        && name.equals(t.name)
        && dtype.equals(t.dtype)
        && Arrays.equals(shape, t.shape);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape);
  }
}
