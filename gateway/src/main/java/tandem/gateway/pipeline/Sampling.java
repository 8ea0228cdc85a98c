package tandem.gateway.pipeline;

import java.util.List;

/**
 * Generation parameters as the client gave them; {@code null} means "not set": decoder-svc then
 * takes the checkpoint's generation_config.json value (the seed's defaults), so both front doors
 * leave out the same things the same way.
 *
 * @param seed an unsigned 64-bit value
 * @param stopTokenIds empty: generation_config's eos_token_id
 */
public record Sampling(
    Integer maxNewTokens,
    Integer minNewTokens,
    Integer noRepeatNgramSize,
    Float temperature,
    Float topP,
    Integer topK,
    Long seed,
    Float repetitionPenalty,
    List<Integer> stopTokenIds) {
  public Sampling {
    stopTokenIds = stopTokenIds == null ? List.of() : List.copyOf(stopTokenIds);
  }

  /** Nothing set: every value is the checkpoint's. */
  public static Sampling defaults() {
    return new Sampling(null, null, null, null, null, null, null, null, List.of());
  }
}
