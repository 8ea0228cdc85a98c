package tandem.common.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.ShortBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * TRW-1 reproducible random weights (docs/checkpoints.md): one splitmix64 stream per tensor seeded
 * with {@code seed ^ fnv1a64(name)}, a role-dependent uniform range, optional row gains, BF16
 * round-to-nearest-even. Every step is written exactly as the spec says (double math, no fused
 * multiply-add), because the fixtures compare bytes.
 */
public final class Trw1 {
  private Trw1() {}

  static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

  /**
   * Multiply row {@code row} (along the first dimension) of {@code tensor} by {@code gain}, before
   * rounding.
   */
  public record RowGain(String tensor, long row, double gain) {}

  /**
   * Center and spread of a tensor's uniform distribution: values are center + spread * U(-1, 1).
   */
  public record Role(String kind, double center, double spread) {}

  public static long fnv1a64(byte[] bytes) {
    long h = 0xCBF29CE484222325L;
    for (byte b : bytes) h = (h ^ (b & 0xff)) * 0x100000001B3L;
    return h;
  }

  /** The splitmix64 output for a state that has already been advanced by the golden gamma. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Initial splitmix64 state of a tensor's stream. */
  public static long initialState(long seed, String name) {
    return seed ^ fnv1a64(name.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The k-th (0-based) splitmix64 output of a stream. splitmix64 adds a constant per step, so any
   * element can be computed directly, which lets big tensors be generated in independent chunks.
   */
  public static long output(long state0, long k) {
    return mix(state0 + (k + 1) * GOLDEN_GAMMA);
  }

  /** Role of a tensor by name, matched in the spec's order. */
  public static Role role(String name, long[] shape) {
    if (name.endsWith("norm.weight")
        || name.endsWith("layernorm.weight")
        || name.endsWith("layer_norm1.weight")
        || name.endsWith("layer_norm2.weight")
        || name.endsWith("post_layernorm.weight")
        || name.endsWith("q_norm.weight")
        || name.endsWith("k_norm.weight")) {
      return new Role("norm", 1.0, 0.2);
    }
    if (name.endsWith(".bias")) return new Role("bias", 0.0, 0.1);
    if (name.endsWith("embed_tokens.weight")) return new Role("embed", 0.0, Math.sqrt(3.0) * 0.1);
    if (name.endsWith("position_embedding.weight"))
      return new Role("position", 0.0, Math.sqrt(3.0) / 2.0);
    long fanIn = 1;
    for (int i = 1; i < shape.length; i++) fanIn *= shape[i];
    return new Role("other", 0.0, Math.sqrt(3.0) / Math.sqrt((double) fanIn));
  }

  /** The double value of element k before storage rounding (without row gains). */
  static double value(long state0, long k, Role role) {
    double u = (output(state0, k) >>> 11) * 0x1p-53;
    double v = 2.0 * u - 1.0;
    return role.center + role.spread * v;
  }

  /** Reads {@code row_gains} from a trw1.json object (absent → empty). */
  public static List<RowGain> rowGains(JsonObject trw1) {
    List<RowGain> out = new ArrayList<>();
    if (trw1.get("row_gains") instanceof JsonArray a) {
      for (JsonElement e : a) {
        JsonObject g = e.getAsJsonObject();
        out.add(
            new RowGain(
                g.get("tensor").getAsString(),
                g.get("row").getAsLong(),
                g.get("gain").getAsDouble()));
      }
    }
    return out;
  }

  /**
   * Generates elements [from, from + count) of a tensor in row-major order as float values (after
   * row gains, before storage rounding) and hands each to {@code sink} with its index.
   */
  public static final class Stream {
    private final long state0;
    private final Role role;
    private final long rowSize;
    private final long[] gainRows;
    private final double[] gains;

    public Stream(long seed, String name, long[] shape, List<RowGain> rowGains) {
      this.state0 = initialState(seed, name);
      this.role = Trw1.role(name, shape);
      long rs = 1;
      for (int i = 1; i < shape.length; i++) rs *= shape[i];
      this.rowSize = rs;
      List<RowGain> mine = rowGains.stream().filter(g -> g.tensor().equals(name)).toList();
      for (RowGain g : mine) {
        if (shape.length == 0 || g.row() < 0 || g.row() >= shape[0]) {
          throw new IllegalArgumentException(
              "row gain for " + name + ": row " + g.row() + " is outside the tensor");
        }
      }
      gainRows = mine.stream().mapToLong(RowGain::row).toArray();
      gains = mine.stream().mapToDouble(RowGain::gain).toArray();
    }

    public Role role() {
      return role;
    }

    /** The float value of element k (row gains applied in double, then cast). */
    public float floatAt(long k) {
      double x = value(state0, k, role);
      if (gains.length > 0) {
        long row = k / rowSize;
        for (int i = 0; i < gains.length; i++) if (gainRows[i] == row) x = x * gains[i];
      }
      return (float) x;
    }

    /**
     * Fills {@code out} (from its position to its limit) with BF16 bits of elements starting at
     * {@code from}.
     */
    public void fillBf16(ShortBuffer out, long from) {
      int n = out.remaining();
      int pos = out.position();
      for (int i = 0; i < n; i++) out.put(pos + i, Bf16.fromFloat(floatAt(from + i)));
      out.position(pos + n);
    }
  }
}
