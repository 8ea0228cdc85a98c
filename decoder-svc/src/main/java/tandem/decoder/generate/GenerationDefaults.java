package tandem.decoder.generate;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongSupplier;
import tandem.common.checkpoint.GenerationConfig;

/**
 * Defaults for every generation control: the checkpoint's generation_config.json where it says
 * something, else the seed demo's settings (max 1024, min 16, no_repeat_ngram_size 2, greedy), else
 * Hugging Face's GenerationConfig defaults (temperature 1, top_k 50, top_p 1, repetition_penalty 1)
 * for a request that turns sampling on.
 */
public record GenerationDefaults(
    int maxNewTokens,
    int minNewTokens,
    int noRepeatNgramSize,
    float repetitionPenalty,
    boolean doSample,
    float temperature,
    int topK,
    float topP,
    int[] stopIds) {

  public static final int DEMO_MAX_NEW_TOKENS = 1024;
  public static final int DEMO_MIN_NEW_TOKENS = 16;
  public static final int DEMO_NO_REPEAT_NGRAM_SIZE = 2;

  /** Qwen3's {@code <|im_end|>}: the stop id when the checkpoint names none. */
  public static final int QWEN_IM_END = 151645;

  public GenerationDefaults {
    stopIds = stopIds.clone();
  }

  /** Demo settings with the given stop ids. */
  public static GenerationDefaults demo(int... stopIds) {
    return new GenerationDefaults(
        DEMO_MAX_NEW_TOKENS,
        DEMO_MIN_NEW_TOKENS,
        DEMO_NO_REPEAT_NGRAM_SIZE,
        1f,
        false,
        1f,
        50,
        1f,
        stopIds);
  }

  /**
   * Reads {@code generation_config.json} of a checkpoint folder; a missing file gives the demo
   * settings.
   */
  public static GenerationDefaults fromDir(Path dir) throws IOException {
    return from(GenerationConfig.fromDir(dir));
  }

  /**
   * Takes every value generation_config.json sets. Its {@code max_length} is ignored on purpose:
   * HF's default of 20 total tokens is meaningless for long image prompts, and the demo caps new
   * tokens instead.
   */
  public static GenerationDefaults from(GenerationConfig g) {
    int[] eos =
        g.eosTokenIds().isEmpty()
            ? new int[] {QWEN_IM_END}
            : g.eosTokenIds().stream().mapToInt(Integer::intValue).toArray();
    GenerationDefaults d = demo(eos);
    return new GenerationDefaults(
        g.maxNewTokens() != null ? g.maxNewTokens() : d.maxNewTokens,
        g.minNewTokens() != null ? g.minNewTokens() : d.minNewTokens,
        g.noRepeatNgramSize() != null ? g.noRepeatNgramSize() : d.noRepeatNgramSize,
        g.repetitionPenalty() != null ? g.repetitionPenalty().floatValue() : d.repetitionPenalty,
        g.doSample() != null && g.doSample(),
        g.temperature() != null ? g.temperature().floatValue() : d.temperature,
        g.topK() != null ? g.topK() : d.topK,
        g.topP() != null ? g.topP().floatValue() : d.topP,
        eos);
  }

  @Override
  public int[] stopIds() {
    return stopIds.clone();
  }

  /**
   * Applies a request's overrides. Sampling is on when the request sets temperature > 0, off when
   * it sets 0, and follows generation_config's do_sample when unset. An unset seed draws one from
   * {@code freshSeed}.
   *
   * @throws IllegalArgumentException naming the offending field and what is allowed
   */
  public GenerationSettings resolve(GenerationOverrides o, LongSupplier freshSeed) {
    boolean sample = o.temperature() == null ? doSample : o.temperature() > 0;
    float temp = o.temperature() != null && o.temperature() > 0 ? o.temperature() : temperature;
    if (o.temperature() != null && (o.temperature() < 0 || !Float.isFinite(o.temperature())))
      throw new IllegalArgumentException(
          "temperature must be >= 0 (0 means greedy), got " + o.temperature());
    return new GenerationSettings(
        o.maxNewTokens() != null ? o.maxNewTokens() : maxNewTokens,
        o.minNewTokens() != null ? o.minNewTokens() : minNewTokens,
        o.noRepeatNgramSize() != null ? o.noRepeatNgramSize() : noRepeatNgramSize,
        o.repetitionPenalty() != null ? o.repetitionPenalty() : repetitionPenalty,
        sample,
        temp,
        o.topK() != null ? o.topK() : topK,
        o.topP() != null ? o.topP() : topP,
        o.seed() != null ? o.seed() : freshSeed.getAsLong(),
        o.stopIds() != null && o.stopIds().length > 0 ? o.stopIds() : stopIds);
  }
}
