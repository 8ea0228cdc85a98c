package tandem.decoder.model;

import java.util.Locale;
import tandem.common.config.ServiceDefaults;

/**
 * How to run the decoder: {@code device} "cpu" or "cuda", {@code dtype} "float32" (or "float16", cuda only),
 * {@code slots} sequences decoded together and {@code maxSeqLen} tokens of KV capacity per slot.
 *
 * <p>The KV cache takes {@code 2 · layers · slots · kvHeads · maxSeqLen · headDim · 4} bytes of address space (7.5 GB
 * for Qwen3-0.6B at 8 × 4096); it is allocated uninitialized, so pages are only committed as positions get written.
 */
public record DecoderOptions(String device, String dtype, int slots, int maxSeqLen) {
  public DecoderOptions {
    device = device == null ? "cpu" : device.toLowerCase(Locale.ROOT);
    dtype = dtype == null ? "float32" : dtype.toLowerCase(Locale.ROOT);
    if (!device.equals("cpu") && !device.equals("cuda")) {
      throw new IllegalArgumentException("device must be cpu or cuda, got '" + device + "'");
    }
    if (!dtype.equals("float32") && !dtype.equals("float16")) {
      throw new IllegalArgumentException("dtype must be float32 or float16, got '" + dtype + "'");
    }
    if (dtype.equals("float16") && device.equals("cpu")) {
      throw new IllegalArgumentException("dtype float16 needs device cuda (float16 matmuls are ~100x slower on CPU)");
    }
    if (slots < 1) throw new IllegalArgumentException("slots must be >= 1, got " + slots);
    if (maxSeqLen < 1) throw new IllegalArgumentException("maxSeqLen must be >= 1, got " + maxSeqLen);
  }

  /** CPU, float32, the service's default batch and sequence limits. */
  public static DecoderOptions defaults() {
    return new DecoderOptions(
        "cpu", "float32", ServiceDefaults.DEFAULT_DECODER_MAX_BATCH, ServiceDefaults.DEFAULT_DECODER_MAX_SEQ_LEN);
  }

  public DecoderOptions withSlots(int newSlots) {
    return new DecoderOptions(device, dtype, newSlots, maxSeqLen);
  }

  public DecoderOptions withMaxSeqLen(int newMaxSeqLen) {
    return new DecoderOptions(device, dtype, slots, newMaxSeqLen);
  }
}
