package tandem.decoder.model;

/**
 * Threads of the CPU compute pools (process-wide): the Java kernel's {@link IntraOpPool} now, and
 * libtorch's intra-op pool when it loads later (through {@code ai.djl.pytorch.num_threads}),
 * without loading libtorch for it. Use {@link TorchThreads} where libtorch is already in use.
 */
public final class ComputeThreads {
  private ComputeThreads() {}

  public static int get() {
    return IntraOpPool.shared().threads();
  }

  public static void set(int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    IntraOpPool.shared().setThreads(threads);
    System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
  }
}
