package tandem.common.checkpoint;

import com.google.gson.JsonObject;
import com.google.gson.annotations.SerializedName;

/**
 * {@code vision_config} of an Idefics3/SmolVLM checkpoint ({@code idefics3_vision}, a SigLIP
 * encoder). Absent keys take the HF Idefics3VisionConfig defaults.
 */
public record VisionConfig(
    @SerializedName("hidden_size") int hiddenSize,
    @SerializedName("intermediate_size") int intermediateSize,
    @SerializedName("num_hidden_layers") int numHiddenLayers,
    @SerializedName("num_attention_heads") int numAttentionHeads,
    @SerializedName("patch_size") int patchSize,
    @SerializedName("image_size") int imageSize,
    @SerializedName("layer_norm_eps") double layerNormEps,
    @SerializedName("hidden_act") String hiddenAct,
    @SerializedName("num_channels") int numChannels) {

  public VisionConfig {
    // Idefics3VisionConfig defaults (gson leaves absent ints at 0)
    if (hiddenSize == 0) hiddenSize = 1152;
    if (intermediateSize == 0) intermediateSize = 3072;
    if (numHiddenLayers == 0) numHiddenLayers = 12;
    if (numAttentionHeads == 0) numAttentionHeads = 16;
    if (patchSize == 0) patchSize = 32;
    if (imageSize == 0) imageSize = 224;
    if (layerNormEps == 0) layerNormEps = 1e-6;
    if (hiddenAct == null) hiddenAct = "gelu_pytorch_tanh";
    if (numChannels == 0) numChannels = 3;
    Configs.positive("vision hidden_size", hiddenSize);
    Configs.positive("vision intermediate_size", intermediateSize);
    Configs.positive("vision num_hidden_layers", numHiddenLayers);
    Configs.positive("vision num_attention_heads", numAttentionHeads);
    Configs.positive("vision patch_size", patchSize);
    Configs.positive("vision image_size", imageSize);
    Configs.positive("vision num_channels", numChannels);
    if (hiddenSize % numAttentionHeads != 0) {
      throw new IllegalArgumentException(
          "vision hidden_size ("
              + hiddenSize
              + ") must be a multiple of num_attention_heads ("
              + numAttentionHeads
              + ")");
    }
    if (imageSize % patchSize != 0) {
      throw new IllegalArgumentException(
          "vision image_size ("
              + imageSize
              + ") must be a multiple of patch_size ("
              + patchSize
              + ")");
    }
    if (!(layerNormEps > 0))
      throw new IllegalArgumentException("vision layer_norm_eps must be positive");
    if (!hiddenAct.equals("gelu_pytorch_tanh") && !hiddenAct.equals("gelu")) {
      throw new IllegalArgumentException(
          "vision hidden_act "
              + hiddenAct
              + " is not supported (allowed: gelu_pytorch_tanh, gelu)");
    }
  }

  public static VisionConfig fromJson(JsonObject o) {
    return Configs.bind(o, VisionConfig.class, "vision_config");
  }

  public int headDim() {
    return hiddenSize / numAttentionHeads;
  }

  /** Patches per side: image_size / patch_size (32 for 512/16). */
  public int patchesPerSide() {
    return imageSize / patchSize;
  }

  /** Positions in the encoder sequence: (image_size / patch_size)^2 (1024 for 512/16). */
  public int numPatches() {
    return patchesPerSide() * patchesPerSide();
  }
}
