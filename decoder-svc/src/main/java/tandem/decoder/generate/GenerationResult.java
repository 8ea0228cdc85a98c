package tandem.decoder.generate;

/**
 * How a sequence ended, with its timings and the server's load when it ended.
 *
 * @param stepModelMs sum, over the decode steps this sequence took part in, of the batched model
 *     forward time
 * @param stepTotalMs sum of the same steps' whole time (forward + processors + sampling +
 *     emitting); the difference is the per-step overhead outside the model
 * @param error the failure text when the reason is ERROR, else empty
 * @param cachedPromptTokens prompt tokens whose KV came from the prefix cache
 * @param kvCacheUsage fraction (0..1) of the KV budget referenced by running sequences when this
 *     one ended
 * @param runningSequences sequences holding a slot when this one ended (itself not counted)
 * @param queuedRequests requests waiting for admission when this one ended
 */
public record GenerationResult(
    FinishReason reason,
    int promptTokens,
    int generatedTokens,
    double timeToFirstTokenMs,
    double decodeMs,
    double queueMs,
    double prefillMs,
    double stepModelMs,
    double stepTotalMs,
    String error,
    int cachedPromptTokens,
    double kvCacheUsage,
    int runningSequences,
    int queuedRequests) {

  /** Without reuse or a load report (tests, clients that only time). */
  public GenerationResult(
      FinishReason reason,
      int promptTokens,
      int generatedTokens,
      double timeToFirstTokenMs,
      double decodeMs,
      double queueMs,
      double prefillMs,
      double stepModelMs,
      double stepTotalMs,
      String error) {
    this(
        reason,
        promptTokens,
        generatedTokens,
        timeToFirstTokenMs,
        decodeMs,
        queueMs,
        prefillMs,
        stepModelMs,
        stepTotalMs,
        error,
        0,
        0,
        0,
        0);
  }
}
