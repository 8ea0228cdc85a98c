package tandem.common.checkpoint;

/** What a checkpoint folder holds. */
public enum Architecture {
  /**
   * Idefics3 / SmolVLM: vision tower + connector (+ text model unless the config is vision-only).
   */
  VISION_LANGUAGE,
  /** Qwen3ForCausalLM: text only, tensors named {@code model.*}. */
  CAUSAL_LM
}
