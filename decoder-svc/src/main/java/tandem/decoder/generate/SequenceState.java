package tandem.decoder.generate;

import java.util.Arrays;
import java.util.BitSet;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * The token history of one sequence and the per-sequence state of the logits processors (n-gram
 * index, distinct tokens for the repetition penalty, the seeded RNG). {@link #choose} runs the
 * processors in Hugging Face's order and picks the next id; it touches nothing but this object and
 * the logits row, so batching cannot change it.
 */
public final class SequenceState {
  private final GenerationSettings settings;
  private final int promptLength;
  private final NgramIndex ngrams;
  private final BitSet seen;
  private final RandomGenerator rng;
  private int[] seq;
  private int length;
  private int[] distinct = new int[64];
  private int distinctCount;
  private int[] scratch = new int[16];

  public SequenceState(int[] prompt, GenerationSettings settings) {
    this.settings = settings;
    this.promptLength = prompt.length;
    this.ngrams =
        settings.noRepeatNgramSize() > 0 ? new NgramIndex(settings.noRepeatNgramSize()) : null;
    this.seen = settings.repetitionPenalty() != 1f ? new BitSet() : null;
    this.rng = new SplittableRandom(settings.seed());
    this.seq =
        Arrays.copyOf(
            prompt, Math.max(16, prompt.length + Math.min(settings.maxNewTokens(), 1024)));
    for (int i = 1; i <= prompt.length; i++) record(i);
    this.length = prompt.length;
  }

  /**
   * Applies the processors to {@code logits} (in place) and returns the chosen id. Does not append
   * it.
   */
  public int choose(float[] logits) {
    if (seen != null)
      LogitsProcessors.repetitionPenalty(
          logits, distinct, distinctCount, settings.repetitionPenalty());
    if (ngrams != null) {
      int max = ngrams.maxBanned(seq, length);
      if (scratch.length < max) scratch = new int[Math.max(max, scratch.length * 2)];
      LogitsProcessors.ban(logits, scratch, ngrams.banned(seq, length, scratch));
    }
    LogitsProcessors.minNewTokens(logits, generated(), settings.minNewTokens(), settings.stopIds());
    if (!settings.doSample()) return LogitsProcessors.argmax(logits);
    LogitsProcessors.temperature(logits, settings.temperature());
    // top-k hands on the ids it left live, so top-p and the draw visit those alone
    int[] live = LogitsProcessors.topKLive(logits, settings.topK());
    live = LogitsProcessors.topP(logits, settings.topP(), live);
    return Sampler.sample(logits, live, rng);
  }

  public void append(int id) {
    if (length == seq.length) seq = Arrays.copyOf(seq, seq.length * 2);
    seq[length++] = id;
    record(length);
  }

  private void record(int len) {
    if (ngrams != null) ngrams.onAppend(seq, len);
    if (seen != null) {
      int t = seq[len - 1];
      if (!seen.get(t)) {
        seen.set(t);
        if (distinctCount == distinct.length) distinct = Arrays.copyOf(distinct, distinctCount * 2);
        distinct[distinctCount++] = t;
      }
    }
  }

  public int length() {
    return length;
  }

  public int promptLength() {
    return promptLength;
  }

  public int generated() {
    return length - promptLength;
  }

  public int last() {
    return seq[length - 1];
  }

  public GenerationSettings settings() {
    return settings;
  }

  /** The generated ids so far. */
  public int[] generatedIds() {
    return Arrays.copyOfRange(seq, promptLength, length);
  }

  /**
   * Prompt then generated ids; valid up to {@link #length()}. The array itself: read it, do not
   * keep or change it.
   */
  int[] tokens() {
    return seq;
  }
}
