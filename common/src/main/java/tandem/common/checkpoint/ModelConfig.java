package tandem.common.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a checkpoint's config.json says, reduced to what Tandem needs: the architecture, the text
 * and vision configs and the tensor-name prefixes of each part. Reads Idefics3/SmolVLM
 * vision-language configs and plain Qwen3ForCausalLM configs.
 *
 * @param text null for a vision-only checkpoint (its text_config gives only hidden_size; see {@link
 *     #textHiddenSize})
 * @param vision null for a text-only checkpoint
 * @param scaleFactor pixel-shuffle factor of the connector (0 for text-only)
 * @param imageTokenId id of {@code <|image_pad|>} (-1 for text-only)
 * @param textHiddenSize the connector's output width = the text model's hidden size
 */
public record ModelConfig(
    Architecture architecture,
    Qwen3Config text,
    VisionConfig vision,
    int scaleFactor,
    int imageTokenId,
    String textPrefix,
    String visionPrefix,
    String connectorPrefix,
    int textHiddenSize) {

  /**
   * Qwen's {@code <|image_pad|>}: the id the married model uses; the fallback when a VLM config
   * omits it.
   */
  public static final int QWEN_IMAGE_PAD_ID = 151655;

  private static final List<String> VLM_ARCHS =
      List.of("Idefics3ForConditionalGeneration", "SmolVLMForConditionalGeneration");
  private static final List<String> VLM_TYPES = List.of("idefics3", "smolvlm");

  public ModelConfig {
    if (architecture == null) throw new IllegalArgumentException("architecture is required");
    if (architecture == Architecture.CAUSAL_LM && (text == null || vision != null)) {
      throw new IllegalArgumentException(
          "a causal LM config needs a text config and no vision config");
    }
    if (architecture == Architecture.VISION_LANGUAGE) {
      if (vision == null)
        throw new IllegalArgumentException("a vision-language config needs vision_config");
      Configs.positive("scale_factor", scaleFactor);
      if (vision.patchesPerSide() % scaleFactor != 0) {
        throw new IllegalArgumentException(
            "scale_factor "
                + scaleFactor
                + " must divide the patch grid side "
                + vision.patchesPerSide()
                + " (image_size / patch_size)");
      }
    }
    if (text != null) {
      if (textHiddenSize == 0) textHiddenSize = text.hiddenSize();
      if (textHiddenSize != text.hiddenSize()) {
        throw new IllegalArgumentException(
            "textHiddenSize " + textHiddenSize + " != text hidden_size " + text.hiddenSize());
      }
    }
    Configs.positive("text hidden_size", textHiddenSize);
  }

  /** Same as the canonical constructor with the text hidden size taken from {@code text}. */
  public ModelConfig(
      Architecture architecture,
      Qwen3Config text,
      VisionConfig vision,
      int scaleFactor,
      int imageTokenId,
      String textPrefix,
      String visionPrefix,
      String connectorPrefix) {
    this(
        architecture,
        text,
        vision,
        scaleFactor,
        imageTokenId,
        textPrefix,
        visionPrefix,
        connectorPrefix,
        text == null ? 0 : text.hiddenSize());
  }

  /** Reads {@code dir/config.json}. */
  public static ModelConfig fromDir(Path dir) throws IOException {
    Path file = dir.resolve("config.json");
    if (!Files.isRegularFile(file)) throw new IOException("no config.json in " + dir);
    try {
      return fromJson(Configs.readObject(file));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** Interprets a parsed config.json. */
  public static ModelConfig fromJson(JsonObject root) {
    String modelType = str(root, "model_type");
    List<String> archs = new ArrayList<>();
    if (root.get("architectures") instanceof JsonArray a)
      for (JsonElement e : a) archs.add(e.getAsString());

    boolean vlm =
        (modelType != null && VLM_TYPES.contains(modelType))
            || archs.stream().anyMatch(VLM_ARCHS::contains);
    boolean causal = "qwen3".equals(modelType) || archs.contains("Qwen3ForCausalLM");
    if (vlm) return vlmFromJson(root);
    if (causal) {
      Qwen3Config text = Qwen3Config.fromJson(root);
      return new ModelConfig(Architecture.CAUSAL_LM, text, null, 0, -1, "model.", null, null);
    }
    throw new IllegalArgumentException(
        "unsupported model: model_type "
            + modelType
            + ", architectures "
            + archs
            + " (allowed: model_type idefics3/smolvlm or "
            + VLM_ARCHS
            + ", or qwen3 / Qwen3ForCausalLM)");
  }

  private static ModelConfig vlmFromJson(JsonObject root) {
    if (!(root.get("vision_config") instanceof JsonObject vc)) {
      throw new IllegalArgumentException("vision-language config without a vision_config object");
    }
    VisionConfig vision = VisionConfig.fromJson(vc);
    if (!(root.get("text_config") instanceof JsonObject tc)) {
      throw new IllegalArgumentException("vision-language config without a text_config object");
    }
    String textType = str(tc, "model_type");
    Qwen3Config text = null;
    int textHidden;
    if (tc.has("num_hidden_layers")) {
      if (textType != null && !textType.equals("qwen3")) {
        throw new IllegalArgumentException(
            "text_config.model_type " + textType + " is not supported (allowed: qwen3)");
      }
      text = Qwen3Config.fromJson(tc);
      textHidden = text.hiddenSize();
    } else {
      // vision-only checkpoint: the text config only fixes the connector's output width
      if (!tc.has("hidden_size"))
        throw new IllegalArgumentException("text_config needs at least hidden_size");
      textHidden = tc.get("hidden_size").getAsInt();
    }
    int scale =
        root.has("scale_factor")
            ? root.get("scale_factor").getAsInt()
            : 2; // Idefics3Config default
    int imageTokenId =
        root.has("image_token_id")
            ? root.get("image_token_id").getAsInt()
            : tc.has("image_token_id") ? tc.get("image_token_id").getAsInt() : QWEN_IMAGE_PAD_ID;
    if (text != null && (imageTokenId < 0 || imageTokenId >= text.vocabSize())) {
      throw new IllegalArgumentException(
          "image_token_id " + imageTokenId + " is outside the vocabulary");
    }
    return new ModelConfig(
        Architecture.VISION_LANGUAGE,
        text,
        vision,
        scale,
        imageTokenId,
        "model.text_model.",
        "model.vision_model.",
        "model.connector.",
        textHidden);
  }

  private static String str(JsonObject o, String key) {
    JsonElement e = o.get(key);
    return e == null || e.isJsonNull() ? null : e.getAsString();
  }

  public boolean hasText() {
    return text != null;
  }

  public boolean hasVision() {
    return vision != null;
  }

  /** Image tokens per tile after the connector: (patches per side / scale)^2 (64 for 512/16/4). */
  public int imageTokensPerTile() {
    if (vision == null) throw new IllegalStateException("text-only checkpoint has no image tokens");
    int side = vision.patchesPerSide() / scaleFactor;
    return side * side;
  }

  /** Connector input width: vision hidden * scale^2 (12288 for 768 and 4). */
  public int connectorInputSize() {
    if (vision == null) throw new IllegalStateException("text-only checkpoint has no connector");
    return vision.hiddenSize() * scaleFactor * scaleFactor;
  }
}
