package tandem.decoder.model;

import java.util.Locale;
import tandem.common.config.ServiceDefaults;

/**
 * How to run the decoder: {@code device} "cpu" or "cuda", {@code dtype} "float32" (or "float16", cuda only: the
 * libtorch kernel's compute type), {@code slots} sequences decoded together, {@code maxSeqLen} tokens of KV capacity
 * per slot, and {@code weights}: the CPU kernel's weight format ("auto" = the checkpoint's: bf16 for a bf16
 * checkpoint, else f32; or "bf16", "q8_0", "f32"; see {@link WeightFormat}).
 *
 * <p>On the CPU (Java kernel) the KV cache takes memory in blocks as sequences grow, at most {@code slots · maxSeqLen}
 * positions of {@code 2 · layers · kvHeads · headDim · 4} bytes; the libtorch kernel reserves that address space up
 * front.
 */
public record DecoderOptions(String device, String dtype, int slots, int maxSeqLen, String weights) {
  public DecoderOptions {
    device = device == null ? "cpu" : device.toLowerCase(Locale.ROOT);
    dtype = dtype == null ? "float32" : dtype.toLowerCase(Locale.ROOT);
    weights = weights == null || weights.isBlank() ? "auto" : weights.trim().toLowerCase(Locale.ROOT);
    if (!device.equals("cpu") && !device.equals("cuda")) {
      throw new IllegalArgumentException("device must be cpu or cuda, got '" + device + "'");
    }
    if (!dtype.equals("float32") && !dtype.equals("float16")) {
      throw new IllegalArgumentException("dtype must be float32 or float16, got '" + dtype + "'");
    }
    if (dtype.equals("float16") && device.equals("cpu")) {
      throw new IllegalArgumentException("dtype float16 needs device cuda (float16 matmuls are ~100x slower on CPU)");
    }
    WeightFormat.parse(weights); // validates
    if (slots < 1) throw new IllegalArgumentException("slots must be >= 1, got " + slots);
    if (maxSeqLen < 1) throw new IllegalArgumentException("maxSeqLen must be >= 1, got " + maxSeqLen);
  }

  /** With the checkpoint's weight format ({@code auto}). */
  public DecoderOptions(String device, String dtype, int slots, int maxSeqLen) {
    this(device, dtype, slots, maxSeqLen, "auto");
  }

  /** CPU, float32, the service's default batch and sequence limits. */
  public static DecoderOptions defaults() {
    return new DecoderOptions(
        "cpu", "float32", ServiceDefaults.DEFAULT_DECODER_MAX_BATCH, ServiceDefaults.DEFAULT_DECODER_MAX_SEQ_LEN);
  }

  public DecoderOptions withSlots(int newSlots) {
    return new DecoderOptions(device, dtype, newSlots, maxSeqLen, weights);
  }

  public DecoderOptions withMaxSeqLen(int newMaxSeqLen) {
    return new DecoderOptions(device, dtype, slots, newMaxSeqLen, weights);
  }

  public DecoderOptions withWeights(String newWeights) {
    return new DecoderOptions(device, dtype, slots, maxSeqLen, newWeights);
  }
}
