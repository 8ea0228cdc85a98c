// Run once at image build time (java source-file mode, on the CLI classpath) so DJL extracts its native libraries
// into $DJL_CACHE_DIR inside the image. At run time DJL finds them there and writes nothing (see k8s/README.md,
// "Why the root filesystem can be read-only"), so nothing downloads at start and the root filesystem stays read-only.
//
// Usage: java -cp "cli/target/classes:cli/target/lib/*" WarmNatives.java [--tokenizers-only]
// --tokenizers-only: for the CUDA image, whose libtorch cannot load without a GPU driver on the build machine.

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

public class WarmNatives {
  public static void main(String[] args) {
    boolean tokenizersOnly = args.length > 0 && args[0].equals("--tokenizers-only");
    // Loading the class runs its static initializer, which extracts libtokenizers.so into the cache.
    ai.djl.huggingface.tokenizers.jni.LibUtils.checkStatus();
    System.out.println("tokenizers native library ready");
    if (tokenizersOnly) return;
    Engine engine = Engine.getEngine("PyTorch");
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray x = m.ones(new Shape(2, 2));
      float sum = x.matMul(x).sum().getFloat();
      if (sum != 8f) throw new IllegalStateException("PyTorch smoke test gave " + sum + ", expected 8");
    }
    System.out.println("PyTorch " + engine.getVersion() + " native library ready, smoke test passed");
  }
}
