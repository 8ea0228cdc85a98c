package tandem.decoder.generate;

/**
 * What a request asked for; a null field means "not set" and takes the default. Mirrors the proto's
 * GenerationParams without depending on it.
 */
public record GenerationOverrides(
    Integer maxNewTokens,
    Integer minNewTokens,
    Integer noRepeatNgramSize,
    Float temperature,
    Float topP,
    Integer topK,
    Long seed,
    Float repetitionPenalty,
    int[] stopIds) {

  public static GenerationOverrides none() {
    return new GenerationOverrides(null, null, null, null, null, null, null, null, new int[0]);
  }
}
