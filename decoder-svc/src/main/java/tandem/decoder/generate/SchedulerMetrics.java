package tandem.decoder.generate;

import tandem.decoder.model.KvStats;

/**
 * A snapshot of the scheduler for metrics and tests.
 *
 * @param activeSequences sequences holding a KV slot (prefilling or decoding)
 * @param queuedRequests requests waiting for a slot (preempted sequences included)
 * @param kvTokensInUse tokens held by those sequences
 * @param kvTokensCapacity tokens the KV cache can hold: the block budget, or slots x tokens per
 *     slot when not paged
 * @param decodeSteps batched steps run so far
 * @param tokensGenerated tokens emitted so far (all sequences)
 * @param stepNanos total time of the steps
 * @param modelNanos the part of stepNanos spent in the model's forward
 * @param requestsFinished sequences that ended, any reason
 * @param cachedPromptTokens prompt tokens taken from the prefix cache instead of computed, so far
 * @param preemptions sequences preempted (freed and queued again) because the KV budget was full,
 *     so far
 * @param kv the paged KV cache (blocks used, cached, bytes), or null when the model does not page
 *     its KV
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
    long requestsFinished,
    long cachedPromptTokens,
    long preemptions,
    KvStats kv) {}
