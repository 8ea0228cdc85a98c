package tandem.decoder.model;

/**
 * The KV cache (its block budget, or the heap behind it) has no room for the positions a step
 * needs.
 */
public final class KvExhaustedException extends IllegalStateException {
  public KvExhaustedException(String message) {
    super(message);
  }
}
