package tandem.vision.model;

/**
 * The shapes the vision tower and connector need, taken from {@code config.json} ({@code
 * vision_config.*}, {@code scale_factor}, {@code text_config.hidden_size}); field names follow the
 * HF keys.
 */
public record VisionDims(
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int patchSize,
    int imageSize,
    double layerNormEps,
    String hiddenAct,
    int scaleFactor,
    int textHiddenSize) {

  public VisionDims {
    if (hiddenSize <= 0 || intermediateSize <= 0 || numHiddenLayers <= 0 || numAttentionHeads <= 0)
      throw new IllegalArgumentException("vision_config sizes must be positive");
    if (hiddenSize % numAttentionHeads != 0)
      throw new IllegalArgumentException(
          "vision_config.hidden_size "
              + hiddenSize
              + " is not divisible by num_attention_heads "
              + numAttentionHeads);
    if (patchSize <= 0 || imageSize % patchSize != 0)
      throw new IllegalArgumentException(
          "vision_config.image_size "
              + imageSize
              + " is not a multiple of patch_size "
              + patchSize);
    // Record fields are assigned after the compact constructor, so derive the grid side locally.
    int side = imageSize / patchSize;
    if (scaleFactor <= 0 || side % scaleFactor != 0)
      throw new IllegalArgumentException(
          "scale_factor " + scaleFactor + " does not divide the patch grid side " + side);
    if (!hiddenAct.equals("gelu_pytorch_tanh") && !hiddenAct.equals("gelu"))
      throw new IllegalArgumentException(
          "vision_config.hidden_act "
              + hiddenAct
              + " is not supported (allowed: gelu_pytorch_tanh, gelu)");
    if (textHiddenSize <= 0)
      throw new IllegalArgumentException("text_config.hidden_size must be positive");
  }

  /** The dims of a vision-language checkpoint's config. */
  public static VisionDims of(tandem.common.checkpoint.ModelConfig cfg) {
    if (!cfg.hasVision())
      throw new IllegalArgumentException(
          "the checkpoint has no vision_config (a text-only model cannot embed images)");
    var v = cfg.vision();
    if (v.numChannels() != 3)
      throw new IllegalArgumentException(
          "vision_config.num_channels " + v.numChannels() + " is not supported (allowed: 3)");
    return new VisionDims(
        v.hiddenSize(),
        v.intermediateSize(),
        v.numHiddenLayers(),
        v.numAttentionHeads(),
        v.patchSize(),
        v.imageSize(),
        v.layerNormEps(),
        v.hiddenAct(),
        cfg.scaleFactor(),
        cfg.textHiddenSize());
  }

  public int headDim() {
    return hiddenSize / numAttentionHeads;
  }

  public int patchesPerSide() {
    return imageSize / patchSize;
  }

  public int numPatches() {
    return patchesPerSide() * patchesPerSide();
  }

  /**
   * Image tokens per tile after the pixel shuffle: (image/patch)^2 / scale^2, 64 for this model.
   */
  public int tokensPerTile() {
    return numPatches() / (scaleFactor * scaleFactor);
  }

  /** Connector input width: hidden * scale^2. */
  public int shuffledSize() {
    return hiddenSize * scaleFactor * scaleFactor;
  }
}
