package tandem.common.checkpoint;

import com.google.gson.JsonObject;
import com.google.gson.annotations.JsonAdapter;
import com.google.gson.annotations.SerializedName;
import java.util.List;

/**
 * The Qwen3 text config ({@code Qwen3ForCausalLM}'s config.json, or {@code text_config} of a
 * SmolVLM/Idefics3 checkpoint). Keys mirror Hugging Face; {@code head_dim} defaults to hidden/heads
 * when absent, as in HF.
 */
public record Qwen3Config(
    @SerializedName("hidden_size") int hiddenSize,
    @SerializedName("intermediate_size") int intermediateSize,
    @SerializedName("num_hidden_layers") int numHiddenLayers,
    @SerializedName("num_attention_heads") int numAttentionHeads,
    @SerializedName("num_key_value_heads") int numKeyValueHeads,
    @SerializedName("head_dim") int headDim,
    @SerializedName("rms_norm_eps") double rmsNormEps,
    @SerializedName("rope_theta") double ropeTheta,
    @SerializedName("max_position_embeddings") int maxPositionEmbeddings,
    @SerializedName("vocab_size") int vocabSize,
    @SerializedName("tie_word_embeddings") boolean tieWordEmbeddings,
    @SerializedName("bos_token_id") Integer bosTokenId,
    @SerializedName("eos_token_id") @JsonAdapter(IntOrListAdapter.class) List<Integer> eosTokenId) {

  public Qwen3Config {
    Configs.positive("hidden_size", hiddenSize);
    Configs.positive("intermediate_size", intermediateSize);
    Configs.positive("num_hidden_layers", numHiddenLayers);
    Configs.positive("num_attention_heads", numAttentionHeads);
    // HF: num_key_value_heads None -> num_attention_heads (gson leaves an absent int at 0)
    if (numKeyValueHeads == 0) numKeyValueHeads = numAttentionHeads;
    Configs.positive("num_key_value_heads", numKeyValueHeads);
    if (numAttentionHeads % numKeyValueHeads != 0) {
      throw new IllegalArgumentException(
          "num_attention_heads ("
              + numAttentionHeads
              + ") must be a multiple of num_key_value_heads ("
              + numKeyValueHeads
              + ")");
    }
    if (headDim == 0) {
      if (hiddenSize % numAttentionHeads != 0) {
        throw new IllegalArgumentException(
            "head_dim is absent and hidden_size ("
                + hiddenSize
                + ") is not a multiple of num_attention_heads ("
                + numAttentionHeads
                + ")");
      }
      headDim = hiddenSize / numAttentionHeads;
    }
    Configs.positive("head_dim", headDim);
    if (headDim % 2 != 0)
      throw new IllegalArgumentException("head_dim must be even for RoPE, got " + headDim);
    if (rmsNormEps == 0) rmsNormEps = 1e-6; // HF Qwen3Config default
    if (!(rmsNormEps > 0))
      throw new IllegalArgumentException("rms_norm_eps must be positive, got " + rmsNormEps);
    if (ropeTheta == 0) ropeTheta = 10000.0; // HF Qwen3Config default
    if (!(ropeTheta > 0))
      throw new IllegalArgumentException("rope_theta must be positive, got " + ropeTheta);
    if (maxPositionEmbeddings == 0) maxPositionEmbeddings = 32768; // HF Qwen3Config default
    Configs.positive("max_position_embeddings", maxPositionEmbeddings);
    Configs.positive("vocab_size", vocabSize);
    eosTokenId = eosTokenId == null ? List.of() : List.copyOf(eosTokenId);
    for (int id : eosTokenId) {
      if (id < 0 || id >= vocabSize) {
        throw new IllegalArgumentException(
            "eos_token_id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
      }
    }
  }

  /**
   * Reads the keys of a config object (config.json root or its text_config). RoPE's base comes from
   * {@code rope_theta}, or from {@code rope_parameters.rope_theta} where transformers 5 writes it;
   * a scaled RoPE ({@code rope_type} other than "default", in {@code rope_parameters} or {@code
   * rope_scaling}) is refused: this decoder computes plain RoPE, and would otherwise give wrong
   * logits without a word.
   */
  public static Qwen3Config fromJson(JsonObject o) {
    JsonObject params = object(o, "rope_parameters");
    for (String key : List.of("rope_parameters", "rope_scaling")) {
      JsonObject r = object(o, key);
      if (r == null) continue;
      String type = string(r, "rope_type");
      if (type == null) type = string(r, "type");
      if (type != null && !type.equals("default")) {
        throw new IllegalArgumentException(
            "qwen3 config: "
                + key
                + " asks for RoPE type '"
                + type
                + "'; only plain RoPE (rope_type \"default\") is supported");
      }
    }
    if (params != null && !o.has("rope_theta")) {
      if (!params.has("rope_theta")) {
        throw new IllegalArgumentException(
            "qwen3 config: rope_parameters has no rope_theta (and there is no top-level"
                + " rope_theta): RoPE's base is unknown");
      }
      o = o.deepCopy();
      o.add("rope_theta", params.get("rope_theta"));
    }
    return Configs.bind(o, Qwen3Config.class, "qwen3 config");
  }

  private static JsonObject object(JsonObject o, String key) {
    return o.has(key) && o.get(key).isJsonObject() ? o.getAsJsonObject(key) : null;
  }

  private static String string(JsonObject o, String key) {
    return o.has(key) && o.get(key).isJsonPrimitive() ? o.get(key).getAsString() : null;
  }

  /** Width of the q projection output: heads * head_dim (2048 for Qwen3-0.6B, not hidden_size). */
  public int qDim() {
    return numAttentionHeads * headDim;
  }

  /** Width of the k and v projection outputs: kv heads * head_dim. */
  public int kvDim() {
    return numKeyValueHeads * headDim;
  }
}
