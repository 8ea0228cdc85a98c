package tandem.decoder.generate;

/** When a sequence ends after a token was appended. Pure. */
public final class StopRules {
  private StopRules() {}

  /**
   * @param token the id just generated
   * @param generated new tokens so far, this one included
   * @param length whole sequence length (prompt + generated)
   * @param capacity most tokens a sequence may hold (KV slot capacity and model context, whichever
   *     is smaller)
   * @return the finish reason, or null to go on
   */
  public static FinishReason after(
      int token, int generated, int length, int capacity, GenerationSettings s) {
    if (s.isStop(token)) return FinishReason.STOP;
    if (generated >= s.maxNewTokens() || length >= capacity) return FinishReason.LENGTH;
    return null;
  }
}
