package tandem.decoder.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * libtorch's intra-op thread count (process-wide), which the CPU decode kernel's pool ({@link
 * IntraOpPool}) follows. Decode at batch 1 is bound by memory bandwidth, and each small op of a
 * layer pays a thread-pool barrier when more than one thread is used; on a CPU shared with other
 * work one thread can be much faster. The default is libtorch's (the number of cores) or {@code
 * -Dai.djl.pytorch.num_threads}.
 */
public final class TorchThreads {
  private TorchThreads() {}

  public static int get() {
    Engine.getEngine("PyTorch"); // loads the native library first
    return JniUtils.getNumThreads();
  }

  public static void set(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    IntraOpPool.shared().setThreads(threads); // the CPU decode kernel follows the same setting
  }
}
