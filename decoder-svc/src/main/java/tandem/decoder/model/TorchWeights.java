package tandem.decoder.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import tandem.common.checkpoint.TensorStore;

/**
 * Turns checkpoint tensors into the libtorch NDArrays (through DJL) that {@link TorchKernel}'s
 * forward pass multiplies with; the Java kernel packs its own ({@link PackedMatrix}). Linear
 * weights keep the HF layout {@code [out, in]} (row j = the weights of output j), whose transposed
 * view libtorch's GEMM takes without a copy. Projections that read the same input (q|k|v, gate|up)
 * are stacked into one matrix so a layer issues one matmul per input. The checkpoint's buffer is
 * dropped after the copy: one copy is kept.
 */
final class TorchWeights {
  private final TensorStore source;
  private final NDManager manager;
  private final Device device;
  private final DataType dtype;

  /** Bytes of checkpoint buffers dropped since the last collection (see {@link #dropped}). */
  private long droppedBytes;

  TorchWeights(TensorStore source, NDManager manager, Device device, DataType dtype) {
    this.source = source;
    this.manager = manager;
    this.device = device;
    this.dtype = dtype;
  }

  TensorStore store() {
    return source;
  }

  NDManager manager() {
    return manager;
  }

  DataType dtype() {
    return dtype;
  }

  /** A 1-D weight read onto the heap, for folding into another matrix. */
  float[] floats(String name, long n) {
    float[] v = new float[(int) n];
    source.float32(name, n).asFloatBuffer().get(v);
    return v;
  }

  /** A 1-D weight such as a norm scale, [n]. */
  NDArray vector(String name, long n) {
    return place(source.float32(name, n), new Shape(n));
  }

  /**
   * The named Linear weights, each {@code [out_i, in]} in the checkpoint, as one {@code [Σ out_i,
   * in]} matrix whose row blocks follow the order of {@code names}.
   */
  NDArray linear(long in, String[] names, long[] outs) {
    return linear(in, names, outs, null);
  }

  /**
   * As {@link #linear(long, String[], long[])} with input feature c scaled by {@code inScale[c]}:
   * folds the weight of the RMSNorm in front ({@code (x ⊙ w)·Wᵀ = x·(W·diag(w))ᵀ}) into the matrix,
   * one multiply less per step.
   */
  NDArray linear(long in, String[] names, long[] outs, float[] inScale) {
    long total = 0;
    for (long o : outs) total += o;
    ByteBuffer dst = allocate(in * total);
    FloatBuffer d = dst.asFloatBuffer();
    for (int p = 0; p < names.length; p++) {
      FloatBuffer s = source.float32(names[p], outs[p], in).asFloatBuffer();
      if (inScale == null) {
        d.put(s);
      } else {
        float[] row = new float[(int) in];
        for (long r = 0; r < outs[p]; r++) {
          s.get(row);
          for (int c = 0; c < row.length; c++) row[c] *= inScale[c];
          d.put(row);
        }
      }
      dropped(outs[p] * in * 4);
    }
    return place(dst, new Shape(total, in));
  }

  /**
   * Direct buffers are freed only when the heap is collected, which a mostly idle heap rarely is:
   * without a nudge the converted checkpoint buffers would pile up and double the peak RSS while
   * loading.
   */
  private void dropped(long bytes) {
    droppedBytes += bytes;
    if (droppedBytes > (256L << 20)) {
      droppedBytes = 0;
      System.gc();
    }
  }

  /** A matrix kept as stored, [rows, cols]. */
  NDArray matrix(String name, long rows, long cols) {
    return place(source.float32(name, rows, cols), new Shape(rows, cols));
  }

  /** Wraps float32 data (no copy on CPU/float32) and moves it to the compute device and dtype. */
  NDArray place(ByteBuffer data, Shape shape) {
    NDArray a = manager.create(data, shape, DataType.FLOAT32);
    if (!device.equals(a.getDevice())) {
      NDArray moved = a.toDevice(device, false);
      a.close();
      a = moved;
    }
    if (dtype != DataType.FLOAT32) {
      NDArray cast = a.toType(dtype, false);
      a.close();
      a = cast;
    }
    return a;
  }

  static ByteBuffer allocate(long floats) {
    if (floats * 4 > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "tensor of " + floats + " floats is over the 2 GiB direct buffer limit");
    }
    return ByteBuffer.allocateDirect((int) (floats * 4)).order(ByteOrder.nativeOrder());
  }
}
