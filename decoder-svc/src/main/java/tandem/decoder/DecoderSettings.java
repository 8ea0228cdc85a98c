package tandem.decoder;

import java.util.List;
import java.util.Locale;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.decoder.generate.Scheduler;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.WeightFormat;

/**
 * decoder-svc's settings, each declared once: flag, environment variable, default and check. {@code
 * vlm serve decoder} makes its options from {@link #REGISTRY}, {@link DecoderServer#main} reads the
 * environment through it, and the table in docs/decoder-svc.md is its {@code markdownTable()}. The
 * network settings every server shares (TLS, drain grace, health port, connections) are {@code
 * CommonSettings.NETWORK}'s.
 */
public final class DecoderSettings {
  private DecoderSettings() {}

  public static final Setting<Integer> PORT = CommonSettings.port(ServiceDefaults.DECODER_PORT);
  public static final Setting<Integer> MAX_BATCH =
      Setting.integer(
          "max-batch",
          "TANDEM_DECODER_MAX_BATCH",
          8,
          1,
          Integer.MAX_VALUE,
          "Most sequences running together (rows of a decode step). It reserves no memory: the"
              + " KV budget does.");
  public static final Setting<Integer> MAX_SEQ_LEN =
      Setting.integer(
          "max-seq-len",
          "TANDEM_DECODER_MAX_SEQ_LEN",
          4096,
          2,
          Integer.MAX_VALUE,
          "Longest sequence, tokens (prompt + generated).");
  public static final Setting<Integer> MAX_QUEUE =
      Setting.integer(
          "max-queue",
          "TANDEM_DECODER_MAX_QUEUE",
          64,
          0,
          Integer.MAX_VALUE,
          "Requests that may wait for a free slot; beyond that a new call gets"
              + " RESOURCE_EXHAUSTED.");
  public static final Setting<Integer> PREFILL_CHUNK_TOKENS =
      Setting.integer(
              "prefill-chunk-tokens",
              "TANDEM_DECODER_PREFILL_TOKENS",
              24,
              1,
              Integer.MAX_VALUE,
              "Rows per scheduler step, decoding rows included: pending prompts get the rest, at"
                  + " least 16 (chunked prefill). Smaller keeps running streams smoother while a"
                  + " long prompt is prefilled; larger gives that prompt its first token sooner.")
          .withAliases("prefill-tokens");
  public static final Setting<Double> WAITING_SERVED_RATIO =
      Setting.decimal(
          "waiting-served-ratio",
          "TANDEM_DECODER_WAITING_SERVED_RATIO",
          1.2,
          0,
          Double.POSITIVE_INFINITY,
          "When the prompts being prefilled number at least this times the decoding streams, a"
              + " step prefills up to 1024 prompt rows, as when nothing decodes, instead of a"
              + " chunk: running streams pause for that step, and prompts that arrived together"
              + " start decoding together (Hugging Face TGI's waiting_served_ratio). 0 = never.");
  public static final Setting<Integer> BATCH_WAIT_MS =
      Setting.integer(
          "batch-wait-ms",
          "TANDEM_DECODER_BATCH_WAIT_MS",
          5,
          0,
          60_000,
          "When a request reaches an idle decoder, the first step waits until none has arrived for"
              + " this many ms (10 times it at most, and not once the free slots are taken), so"
              + " that requests sent together are prefilled together and decode together. 0 ="
              + " start at once.");
  public static final Setting<Long> KV_CACHE_BYTES =
      Setting.bytes(
          "kv-cache-bytes",
          "TANDEM_DECODER_KV_CACHE_BYTES",
          0L,
          0,
          "KV cache budget, bytes (suffixes k, m, g): the block pool never holds more. 0 = auto:"
              + " 512 MiB on the CPU; on CUDA, gpu-memory-fraction of the GPU less what is in use"
              + " once the weights are loaded, less 1 GiB for activations.");
  public static final Setting<Double> GPU_MEMORY_FRACTION =
      Setting.decimal(
          "gpu-memory-fraction",
          "TANDEM_DECODER_GPU_MEMORY_FRACTION",
          DecoderOptions.DEFAULT_GPU_MEMORY_FRACTION,
          0.05,
          1,
          "On CUDA with kv-cache-bytes 0: the share of the GPU's memory the decoder may fill"
              + " (weights, activations and KV cache), as vLLM's gpu_memory_utilization. The KV"
              + " budget is reserved at start.");
  public static final Setting<String> KV_CACHE_DTYPE =
      new Setting<>(
          "kv-cache-dtype",
          List.of(),
          "TANDEM_DECODER_KV_CACHE_DTYPE",
          DecoderOptions.DEFAULT_KV_DTYPE,
          "KV storage of the CPU kernel: bf16 (K/V"
              + " rounded to nearest even) or f32 (float32 throughout). libtorch keeps K/V in its"
              + " compute type (--dtype).",
          String.class,
          DecoderSettings::kvDtype,
          null);
  public static final Setting<Boolean> PREFIX_CACHE =
      Setting.bool(
          "prefix-cache",
          "TANDEM_DECODER_PREFIX_CACHE",
          true,
          "Keep full KV blocks after their sequence ends and reuse them for later prompts with the"
              + " same prefix (system prompt, image, earlier turns).");
  public static final Setting<Boolean> KV_PREALLOCATE =
      Setting.bool(
          "kv-preallocate",
          "TANDEM_DECODER_KV_PREALLOCATE",
          true,
          "Create every KV block of the CPU budget at start, as vLLM and llama.cpp commit theirs,"
              + " so that a running server never pays for new memory (on some VMs its first touch"
              + " stalled a step for 100-240 ms); false = blocks are created as sequences first"
              + " reach them, and memory follows the most tokens held. libtorch's KV tensors are"
              + " always made at the budget's size.");
  public static final Setting<Integer> THREADS =
      Setting.integer(
          "threads",
          "TANDEM_DECODER_THREADS",
          0,
          0,
          Integer.MAX_VALUE,
          "Compute threads (process-wide) of the CPU kernel and libtorch; 0 = the core count.");
  public static final Setting<String> WEIGHTS =
      new Setting<>(
          "weights",
          List.of(),
          "TANDEM_DECODER_WEIGHTS",
          "auto",
          "CPU weight format: auto (the checkpoint's: bf16 for a bf16 checkpoint, else f32), bf16,"
              + " q8_0 (int8 blocks as llama.cpp's Q8_0: an approximation, about half the bytes of"
              + " bf16) or f32. On CUDA, --dtype applies.",
          String.class,
          DecoderSettings::weights,
          null);

  /** Every setting decoder-svc reads, in the order of its help and docs. */
  public static final SettingRegistry REGISTRY =
      new SettingRegistry(
          "decoder-svc",
          List.of(
              CommonSettings.MODEL,
              CommonSettings.DEVICE,
              CommonSettings.DTYPE,
              PORT,
              MAX_BATCH,
              MAX_SEQ_LEN,
              MAX_QUEUE,
              PREFILL_CHUNK_TOKENS,
              WAITING_SERVED_RATIO,
              BATCH_WAIT_MS,
              KV_CACHE_BYTES,
              GPU_MEMORY_FRACTION,
              KV_CACHE_DTYPE,
              PREFIX_CACHE,
              KV_PREALLOCATE,
              THREADS,
              WEIGHTS,
              CommonSettings.MAX_MESSAGE_BYTES,
              CommonSettings.METRICS_PORT));

  /** How the scheduler's refusals name the limit a request hit: by these settings' variables. */
  public static final Scheduler.LimitNames LIMIT_NAMES =
      new Scheduler.LimitNames(MAX_QUEUE.env(), MAX_SEQ_LEN.env(), KV_CACHE_BYTES.env());

  private static String kvDtype(String s) {
    String v = s.toLowerCase(Locale.ROOT);
    if (!v.equals("bf16") && !v.equals("f32")) {
      throw new IllegalArgumentException("KV cache dtype must be bf16 or f32, got '" + s + "'");
    }
    return v;
  }

  private static String weights(String s) {
    WeightFormat.parse(s); // says what is allowed
    return s.toLowerCase(Locale.ROOT);
  }
}
