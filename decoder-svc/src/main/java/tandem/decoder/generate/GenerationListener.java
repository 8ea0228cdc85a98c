package tandem.decoder.generate;

/**
 * Receives one sequence's output. Called on the scheduler thread, so implementations must return
 * quickly (buffer, never block on a slow client). An exception from either method cancels the
 * sequence.
 */
public interface GenerationListener {
  void onToken(int id);

  /** Called exactly once, last. */
  void onFinish(GenerationResult result);
}
