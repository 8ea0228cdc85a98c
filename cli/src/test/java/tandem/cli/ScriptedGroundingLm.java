package tandem.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import tandem.decoder.model.CausalLm;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * A decoder that answers grounding questions from a script, so an end-to-end eval has exact
 * expected numbers. It reads the question back from the prompt: {@link #embed} writes each token id
 * into its row (with a marker that the vision rows spliced over the image tokens do not carry),
 * {@link #prefill} decodes the text rows, finds the label after the prompt's prefix and then emits
 * the scripted answer's ids one step at a time (a one-hot logit), then {@code <|im_end|>}.
 * Everything else of the pipeline (vision-svc, template, tokenizer, detokenizer, box parser, pixel
 * mapping) runs for real.
 */
final class ScriptedGroundingLm implements CausalLm {
  static final int IM_END = 151645;
  private static final float MARK = -98765f;

  private final QwenTokenizer tokenizer;
  private final int vocab;
  private final int hidden;
  private final int slots;
  private final int maxSeqLen;
  private final String prefix;
  private final Map<String, String> answers;
  private final int[][] script;
  private final int[] step;
  private final int[] length;

  /** Prompts prefilled so far: how many questions the server got. */
  final AtomicInteger questions = new AtomicInteger();

  final List<String> labels = java.util.Collections.synchronizedList(new ArrayList<>());

  ScriptedGroundingLm(
      QwenTokenizer tokenizer,
      int vocab,
      int hidden,
      int slots,
      int maxSeqLen,
      String prefix,
      Map<String, String> answers) {
    this.tokenizer = tokenizer;
    this.vocab = vocab;
    this.hidden = hidden;
    this.slots = slots;
    this.maxSeqLen = maxSeqLen;
    this.prefix = prefix;
    this.answers = answers;
    this.script = new int[slots][];
    this.step = new int[slots];
    this.length = new int[slots];
  }

  @Override
  public int vocabSize() {
    return vocab;
  }

  @Override
  public int hiddenSize() {
    return hidden;
  }

  @Override
  public int slots() {
    return slots;
  }

  @Override
  public int maxSeqLen() {
    return maxSeqLen;
  }

  @Override
  public float[] embed(int[] ids) {
    float[] e = new float[ids.length * hidden];
    for (int i = 0; i < ids.length; i++) {
      e[i * hidden] = ids[i];
      e[i * hidden + 1] = MARK;
    }
    return e;
  }

  @Override
  public float[] prefill(int slot, float[] inputEmbeds, int len) {
    List<Integer> text = new ArrayList<>();
    for (int i = 0; i < len; i++) {
      if (inputEmbeds[i * hidden + 1] == MARK) text.add((int) inputEmbeds[i * hidden]);
    }
    String prompt = tokenizer.decode(text.stream().mapToInt(Integer::intValue).toArray(), false);
    int at = prompt.lastIndexOf(prefix);
    int end = prompt.indexOf("<|im_end|>", Math.max(at, 0));
    String label = at < 0 || end < 0 ? "" : prompt.substring(at + prefix.length(), end);
    labels.add(label);
    questions.incrementAndGet();
    int[] ids = tokenizer.encodeText(answers.getOrDefault(label, "I see no " + label + "."));
    script[slot] = java.util.Arrays.copyOf(ids, ids.length + 1);
    script[slot][ids.length] = IM_END;
    step[slot] = 0;
    length[slot] = len;
    return oneHot(script[slot][0]);
  }

  @Override
  public float[][] decode(int[] slotIds, int[] ids) {
    float[][] out = new float[slotIds.length][];
    for (int i = 0; i < slotIds.length; i++) {
      int s = slotIds[i];
      length[s]++;
      step[s]++;
      out[i] = oneHot(step[s] < script[s].length ? script[s][step[s]] : IM_END);
    }
    return out;
  }

  private float[] oneHot(int id) {
    float[] l = new float[vocab];
    l[id] = 10f;
    return l;
  }

  @Override
  public void release(int slot) {
    length[slot] = 0;
    script[slot] = null;
  }

  @Override
  public int length(int slot) {
    return length[slot];
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
