package tandem.gateway.tokenize;

/**
 * What the detokenizer needs from a tokenizer: the bytes of each id and whether it is a special
 * token.
 */
public interface TokenBytes {
  /** The token's bytes, or null for an id the tokenizer does not know. */
  byte[] tokenBytes(int id);

  boolean isSpecial(int id);
}
