package tandem.gateway.chat;

/**
 * Token strings of the Qwen3-SmVL chat template and of HF's {@code SmolVLMProcessor} (its image
 * expansion).
 */
public final class Tokens {
  private Tokens() {}

  public static final String IM_START = "<|im_start|>";
  public static final String IM_END = "<|im_end|>";
  public static final String THINK = "<think>";
  public static final String END_THINK = "</think>";

  /** {@code image_token}: one per image feature row; 151655 in Qwen3. */
  public static final String IMAGE_PAD = "<|image_pad|>";

  /** {@code global_image_token}: 151654. */
  public static final String VISION_PAD = "<|vision_pad|>";

  /**
   * {@code fake_image_token}: NOT in Qwen's vocabulary, so it is plain text (several BPE pieces).
   */
  public static final String FAKE_IMAGE = "<vision_start>";

  public static final String TOOL_RESPONSE = "<tool_response>";
  public static final String END_TOOL_RESPONSE = "</tool_response>";
}
