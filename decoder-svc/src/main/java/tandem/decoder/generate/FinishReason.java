package tandem.decoder.generate;

/** Why a sequence ended. */
public enum FinishReason {
  /** A stop id was generated (and emitted). */
  STOP,
  /** max_new_tokens was reached, or the sequence filled its KV slot. */
  LENGTH,
  /** The client cancelled or its deadline passed. */
  CANCELLED,
  /** The model failed; the message says why. */
  ERROR
}
