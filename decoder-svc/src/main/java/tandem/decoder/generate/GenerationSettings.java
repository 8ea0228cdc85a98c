package tandem.decoder.generate;

import java.util.Arrays;

/**
 * The generation controls of one request after defaults were applied (request value, else the
 * checkpoint's generation_config.json, else the server defaults). Names follow Hugging Face's
 * GenerationConfig.
 *
 * @param maxNewTokens most new tokens (the stop token counts)
 * @param minNewTokens stop ids are banned until this many tokens were generated
 * @param noRepeatNgramSize bans any n-gram that already occurs in the whole sequence; 0 disables
 * @param repetitionPenalty HF repetition penalty over the whole sequence; 1 disables
 * @param doSample false: greedy argmax; true: temperature, top-k, top-p, then a draw
 * @param temperature softmax temperature (> 0) when sampling
 * @param topK keep the k most likely tokens when sampling; 0 disables
 * @param topP nucleus threshold in (0, 1] when sampling; 1 disables
 * @param seed seed of the request's random generator (only used when sampling)
 * @param stopIds generating any of these ends the sequence (the id is emitted)
 */
public record GenerationSettings(
    int maxNewTokens,
    int minNewTokens,
    int noRepeatNgramSize,
    float repetitionPenalty,
    boolean doSample,
    float temperature,
    int topK,
    float topP,
    long seed,
    int[] stopIds) {

  public GenerationSettings {
    check(maxNewTokens >= 1, "max_new_tokens must be >= 1, got " + maxNewTokens);
    check(minNewTokens >= 0, "min_new_tokens must be >= 0, got " + minNewTokens);
    check(
        noRepeatNgramSize >= 0,
        "no_repeat_ngram_size must be >= 0 (0 disables), got " + noRepeatNgramSize);
    check(
        repetitionPenalty > 0 && Float.isFinite(repetitionPenalty),
        "repetition_penalty must be > 0 (1 disables), got " + repetitionPenalty);
    check(
        !doSample || (temperature > 0 && Float.isFinite(temperature)),
        "temperature must be > 0 when sampling (0 means greedy), got " + temperature);
    check(topK >= 0, "top_k must be >= 0 (0 disables), got " + topK);
    check(topP > 0 && topP <= 1, "top_p must be in (0, 1] (1 disables), got " + topP);
    stopIds = stopIds.clone();
  }

  private static void check(boolean ok, String message) {
    if (!ok) throw new IllegalArgumentException(message);
  }

  public boolean isStop(int id) {
    for (int s : stopIds) if (s == id) return true;
    return false;
  }

  @Override
  public int[] stopIds() {
    return stopIds.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GenerationSettings g
        && maxNewTokens == g.maxNewTokens
        && minNewTokens == g.minNewTokens
        && noRepeatNgramSize == g.noRepeatNgramSize
        && repetitionPenalty == g.repetitionPenalty
        && doSample == g.doSample
        && temperature == g.temperature
        && topK == g.topK
        && topP == g.topP
        && seed == g.seed
        && Arrays.equals(stopIds, g.stopIds);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(stopIds) * 31 + Long.hashCode(seed) + maxNewTokens;
  }

  @Override
  public String toString() {
    return "GenerationSettings[max_new_tokens="
        + maxNewTokens
        + ", min_new_tokens="
        + minNewTokens
        + ", no_repeat_ngram_size="
        + noRepeatNgramSize
        + ", repetition_penalty="
        + repetitionPenalty
        + ", do_sample="
        + doSample
        + ", temperature="
        + temperature
        + ", top_k="
        + topK
        + ", top_p="
        + topP
        + ", seed="
        + seed
        + ", stop="
        + Arrays.toString(stopIds)
        + "]";
  }
}
