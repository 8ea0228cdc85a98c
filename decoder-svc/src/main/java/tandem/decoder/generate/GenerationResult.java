package tandem.decoder.generate;

/**
 * How a sequence ended, with its timings.
 *
 * @param stepModelMs sum, over the decode steps this sequence took part in, of the batched model forward time
 * @param stepTotalMs sum of the same steps' whole time (forward + processors + sampling + emitting); the difference
 *     is the per-step overhead outside the model
 * @param error the failure text when the reason is ERROR, else empty
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
    String error) {}
