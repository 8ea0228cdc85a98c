package tandem.decoder.generate;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/**
 * Defaults for every generation control: the checkpoint's generation_config.json where it says something, else the
 * seed demo's settings (max 1024, min 16, no_repeat_ngram_size 2, greedy), else Hugging Face's GenerationConfig
 * defaults (temperature 1, top_k 50, top_p 1, repetition_penalty 1) for a request that turns sampling on.
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
    return new GenerationDefaults(DEMO_MAX_NEW_TOKENS, DEMO_MIN_NEW_TOKENS, DEMO_NO_REPEAT_NGRAM_SIZE, 1f, false, 1f,
        50, 1f, stopIds);
  }

  /** Reads {@code generation_config.json} of a checkpoint folder; a missing file gives the demo settings. */
  public static GenerationDefaults fromDir(Path dir) throws IOException {
    Path file = dir.resolve("generation_config.json");
    if (!Files.exists(file)) return demo(QWEN_IM_END);
    return fromJson(JsonParser.parseString(Files.readString(file)).getAsJsonObject());
  }

  /**
   * Keys as in Hugging Face's GenerationConfig. {@code max_length} is ignored on purpose: HF's default of 20 total
   * tokens is meaningless for long image prompts, and the demo caps new tokens instead.
   */
  public static GenerationDefaults fromJson(JsonObject g) {
    GenerationDefaults d = demo(eos(g));
    return new GenerationDefaults(
        intOr(g, "max_new_tokens", d.maxNewTokens),
        intOr(g, "min_new_tokens", d.minNewTokens),
        intOr(g, "no_repeat_ngram_size", d.noRepeatNgramSize),
        floatOr(g, "repetition_penalty", d.repetitionPenalty),
        g.has("do_sample") && !g.get("do_sample").isJsonNull() && g.get("do_sample").getAsBoolean(),
        floatOr(g, "temperature", d.temperature),
        intOr(g, "top_k", d.topK),
        floatOr(g, "top_p", d.topP),
        d.stopIds);
  }

  private static int[] eos(JsonObject g) {
    JsonElement e = g.get("eos_token_id");
    if (e == null || e.isJsonNull()) return new int[] {QWEN_IM_END};
    if (e.isJsonArray()) {
      JsonArray a = e.getAsJsonArray();
      int[] ids = new int[a.size()];
      for (int i = 0; i < ids.length; i++) ids[i] = a.get(i).getAsInt();
      return ids;
    }
    return new int[] {e.getAsInt()};
  }

  private static int intOr(JsonObject g, String key, int def) {
    JsonElement e = g.get(key);
    return e == null || e.isJsonNull() ? def : e.getAsInt();
  }

  private static float floatOr(JsonObject g, String key, float def) {
    JsonElement e = g.get(key);
    return e == null || e.isJsonNull() ? def : e.getAsFloat();
  }

  @Override
  public int[] stopIds() {
    return stopIds.clone();
  }

  /**
   * Applies a request's overrides. Sampling is on when the request sets temperature > 0, off when it sets 0, and
   * follows generation_config's do_sample when unset. An unset seed draws one from {@code freshSeed}.
   *
   * @throws IllegalArgumentException naming the offending field and what is allowed
   */
  public GenerationSettings resolve(GenerationOverrides o, LongSupplier freshSeed) {
    boolean sample = o.temperature() == null ? doSample : o.temperature() > 0;
    float temp = o.temperature() != null && o.temperature() > 0 ? o.temperature() : temperature;
    if (o.temperature() != null && (o.temperature() < 0 || !Float.isFinite(o.temperature())))
      throw new IllegalArgumentException("temperature must be >= 0 (0 means greedy), got " + o.temperature());
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
