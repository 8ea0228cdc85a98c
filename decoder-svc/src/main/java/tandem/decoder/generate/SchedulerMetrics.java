package tandem.decoder.generate;

/**
 * A snapshot of the scheduler for metrics and tests.
 *
 * @param activeSequences sequences holding a KV slot
 * @param queuedRequests requests waiting for a slot
 * @param kvTokensInUse tokens held in KV slots
 * @param kvTokensCapacity slots x tokens per slot
 * @param decodeSteps batched decode steps run so far
 * @param tokensGenerated tokens emitted so far (all sequences)
 * @param stepNanos total time of the decode steps
 * @param modelNanos the part of stepNanos spent in the model's forward
 * @param requestsFinished sequences that ended, any reason
 */
public record SchedulerMetrics(
    int activeSequences,
    int queuedRequests,
    long kvTokensInUse,
    long kvTokensCapacity,
    long decodeSteps,
    long tokensGenerated,
    long stepNanos,
    long modelNanos,
    long requestsFinished) {}
