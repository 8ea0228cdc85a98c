package tandem.decoder.model;

import java.util.Locale;

/**
 * How to run the decoder: {@code device} "cpu" or "cuda", {@code dtype} "float32" (or "float16",
 * cuda only: the libtorch kernel's compute type), {@code slots} sequences decoded together, {@code
 * maxSeqLen} tokens of KV capacity per slot, and {@code weights}: the CPU kernel's weight format
 * ("auto" = the checkpoint's: bf16 for a bf16 checkpoint, else f32; or "bf16", "q8_0", "f32"; see
 * {@link WeightFormat}).
 *
 * <p>Both kernels keep the KV cache as a pool of blocks under {@code kvCacheBytes}, taken by
 * sequences as they grow; with {@code prefixCache} full blocks are kept for later requests with the
 * same prefix. A budget of 0 means {@link #DEFAULT_KV_BYTES} on the CPU, and on CUDA {@code
 * gpuMemoryFraction} of the device's memory less what is in use once the weights are loaded (vLLM's
 * {@code gpu_memory_utilization}). The Java kernel stores K/V as {@code kvDtype} ("bf16" or "f32");
 * libtorch stores them in its compute type (float32, or float16 on CUDA). With {@code
 * kvPreallocate} the Java kernel creates every block of the budget at load, so that their memory is
 * committed before serving (libtorch's tensors always are); without it blocks are created as
 * sequences first reach them, and memory follows the most tokens ever held.
 */
public record DecoderOptions(
    String device,
    String dtype,
    int slots,
    int maxSeqLen,
    String weights,
    long kvCacheBytes,
    String kvDtype,
    boolean prefixCache,
    double gpuMemoryFraction,
    boolean kvPreallocate) {
  /**
   * The CPU KV budget when none is given (0): 512 MiB, about 4,680 tokens of Qwen3-0.6B in bf16.
   */
  public static final long DEFAULT_KV_BYTES = 512L << 20;

  /** The share of a GPU's memory the decoder may fill (weights, activations, KV) by default. */
  public static final double DEFAULT_GPU_MEMORY_FRACTION = 0.9;

  /** The CPU KV storage when none is given: bf16, half the bytes of f32. */
  public static final String DEFAULT_KV_DTYPE = "bf16";

  public DecoderOptions {
    device = device == null ? "cpu" : device.toLowerCase(Locale.ROOT);
    dtype = dtype == null ? "float32" : dtype.toLowerCase(Locale.ROOT);
    weights =
        weights == null || weights.isBlank() ? "auto" : weights.trim().toLowerCase(Locale.ROOT);
    kvDtype =
        kvDtype == null || kvDtype.isBlank()
            ? DEFAULT_KV_DTYPE
            : kvDtype.trim().toLowerCase(Locale.ROOT);
    if (!device.equals("cpu") && !device.equals("cuda")) {
      throw new IllegalArgumentException("device must be cpu or cuda, got '" + device + "'");
    }
    if (!dtype.equals("float32") && !dtype.equals("float16")) {
      throw new IllegalArgumentException("dtype must be float32 or float16, got '" + dtype + "'");
    }
    if (dtype.equals("float16") && device.equals("cpu")) {
      throw new IllegalArgumentException(
          "dtype float16 needs device cuda (float16 matmuls are ~100x slower on CPU)");
    }
    WeightFormat.parse(weights); // validates
    KvPool.Dtype.parse(kvDtype); // validates
    if (slots < 1) throw new IllegalArgumentException("slots must be >= 1, got " + slots);
    if (maxSeqLen < 1)
      throw new IllegalArgumentException("maxSeqLen must be >= 1, got " + maxSeqLen);
    if (kvCacheBytes < 0) {
      throw new IllegalArgumentException(
          "KV cache bytes must be >= 0 (0 = the default), got " + kvCacheBytes);
    }
    if (!(gpuMemoryFraction > 0 && gpuMemoryFraction <= 1)) {
      throw new IllegalArgumentException(
          "GPU memory fraction must be in (0, 1], got " + gpuMemoryFraction);
    }
  }

  /** With the default KV cache (budget, bf16, prefix cache on). */
  public DecoderOptions(String device, String dtype, int slots, int maxSeqLen, String weights) {
    this(
        device,
        dtype,
        slots,
        maxSeqLen,
        weights,
        0,
        null,
        true,
        DEFAULT_GPU_MEMORY_FRACTION,
        false);
  }

  /** With the checkpoint's weight format ({@code auto}). */
  public DecoderOptions(String device, String dtype, int slots, int maxSeqLen) {
    this(device, dtype, slots, maxSeqLen, "auto");
  }

  /** With this KV cache: budget in bytes (0 = default), "bf16" or "f32", prefix reuse on or off. */
  public DecoderOptions withKvCache(long bytes, String newKvDtype, boolean prefix) {
    return new DecoderOptions(
        device,
        dtype,
        slots,
        maxSeqLen,
        weights,
        bytes,
        newKvDtype,
        prefix,
        gpuMemoryFraction,
        kvPreallocate);
  }

  /**
   * With the CPU kernel's KV blocks all created at load ({@code true}: their memory is committed
   * before serving, not in the pauses of a running server) or as sequences first reach them.
   */
  public DecoderOptions withKvPreallocate(boolean preallocate) {
    return new DecoderOptions(
        device,
        dtype,
        slots,
        maxSeqLen,
        weights,
        kvCacheBytes,
        kvDtype,
        prefixCache,
        gpuMemoryFraction,
        preallocate);
  }
}
