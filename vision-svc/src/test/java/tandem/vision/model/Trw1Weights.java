package tandem.vision.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * In-memory TRW-1 weights (shared/spec/random-weights.md), BF16-rounded then widened, generated on demand by name
 * and shape. A stand-in until the checkpoint helper's generator lands; it has no row gains (the vision fixtures use
 * none).
 */
final class Trw1Weights implements Weights {
  private final long seed;

  Trw1Weights(long seed) {
    this.seed = seed;
  }

  @Override
  public ByteBuffer float32(String name, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    long fanIn = n / shape[0];
    double center;
    double spread;
    if (name.endsWith("norm.weight") || name.endsWith("layernorm.weight") || name.endsWith("layer_norm1.weight")
        || name.endsWith("layer_norm2.weight") || name.endsWith("q_norm.weight") || name.endsWith("k_norm.weight")) {
      center = 1.0;
      spread = 0.2;
    } else if (name.endsWith(".bias")) {
      center = 0.0;
      spread = 0.1;
    } else if (name.endsWith("embed_tokens.weight")) {
      center = 0.0;
      spread = Math.sqrt(3.0) * 0.1;
    } else if (name.endsWith("position_embedding.weight")) {
      center = 0.0;
      spread = Math.sqrt(3.0) / 2.0;
    } else {
      center = 0.0;
      spread = Math.sqrt(3.0) / Math.sqrt(fanIn);
    }
    long state = seed ^ fnv1a64(name.getBytes(StandardCharsets.UTF_8));
    ByteBuffer out = ByteBuffer.allocateDirect(Math.toIntExact(n * 4)).order(ByteOrder.nativeOrder());
    for (long i = 0; i < n; i++) {
      state += 0x9E3779B97F4A7C15L;
      long z = state;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      z = z ^ (z >>> 31);
      double u = (z >>> 11) * 0x1.0p-53;
      double v = 2 * u - 1;
      double value = center + spread * v;
      int bits = Float.floatToRawIntBits((float) value);
      int bf16 = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
      out.putFloat(Float.intBitsToFloat(bf16 << 16));
    }
    return out.flip();
  }

  static long fnv1a64(byte[] bytes) {
    long h = 0xCBF29CE484222325L;
    for (byte b : bytes) h = (h ^ (b & 0xff)) * 0x100000001B3L;
    return h;
  }
}
