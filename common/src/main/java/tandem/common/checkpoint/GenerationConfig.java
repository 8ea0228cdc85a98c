package tandem.common.checkpoint;

import com.google.gson.JsonObject;
import com.google.gson.annotations.JsonAdapter;
import com.google.gson.annotations.SerializedName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * generation_config.json, keys as in Hugging Face. Every field is nullable (absent = not
 * configured); the eos list is never null (empty when absent). An absent file gives the all-empty
 * config.
 */
public record GenerationConfig(
    @SerializedName("eos_token_id") @JsonAdapter(IntOrListAdapter.class) List<Integer> eosTokenIds,
    @SerializedName("bos_token_id") Integer bosTokenId,
    @SerializedName("pad_token_id") Integer padTokenId,
    @SerializedName("do_sample") Boolean doSample,
    @SerializedName("temperature") Double temperature,
    @SerializedName("top_k") Integer topK,
    @SerializedName("top_p") Double topP,
    @SerializedName("max_new_tokens") Integer maxNewTokens,
    @SerializedName("min_new_tokens") Integer minNewTokens,
    @SerializedName("no_repeat_ngram_size") Integer noRepeatNgramSize,
    @SerializedName("repetition_penalty") Double repetitionPenalty) {

  public GenerationConfig {
    eosTokenIds = eosTokenIds == null ? List.of() : List.copyOf(eosTokenIds);
    if (temperature != null && !(temperature >= 0))
      throw new IllegalArgumentException("temperature must be >= 0");
    if (topK != null && topK < 0) throw new IllegalArgumentException("top_k must be >= 0");
    if (topP != null && !(topP > 0 && topP <= 1))
      throw new IllegalArgumentException("top_p must be in (0, 1]");
    if (maxNewTokens != null && maxNewTokens < 0)
      throw new IllegalArgumentException("max_new_tokens must be >= 0");
    if (minNewTokens != null && minNewTokens < 0)
      throw new IllegalArgumentException("min_new_tokens must be >= 0");
    if (noRepeatNgramSize != null && noRepeatNgramSize < 0) {
      throw new IllegalArgumentException("no_repeat_ngram_size must be >= 0");
    }
  }

  public static GenerationConfig empty() {
    return new GenerationConfig(null, null, null, null, null, null, null, null, null, null, null);
  }

  /** Reads {@code dir/generation_config.json}; an absent file gives {@link #empty()}. */
  public static GenerationConfig fromDir(Path dir) throws IOException {
    Path file = dir.resolve("generation_config.json");
    if (!Files.isRegularFile(file)) return empty();
    return fromJson(Configs.readObject(file), file.toString());
  }

  static GenerationConfig fromJson(JsonObject o, String where) {
    return Configs.bind(o, GenerationConfig.class, where);
  }
}
