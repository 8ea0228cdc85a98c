package tandem.decoder.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import tandem.decoder.model.CausalLm;

/**
 * A deterministic stand-in for the Qwen3 model: each slot's logits are a pseudo-random function of
 * everything that slot holds (the first feature of every input embedding), so mixing slots up or
 * leaking state between batch rows changes the output. {@code constantLogits} makes every step
 * return the same row (for hand-checked examples).
 */
public class FakeCausalLm implements CausalLm {
  private final int vocab;
  private final int hidden;
  private final int maxSeqLen;
  private final float[] constantLogits;
  private final List<List<Float>> slots = new ArrayList<>();
  public volatile long stepSleepMillis;
  public final AtomicInteger decodeCalls = new AtomicInteger();
  public final AtomicInteger prefillCalls = new AtomicInteger();
  public volatile int largestBatch;

  /** Stacked prefill calls (several prompts in one call) and the most prompts one of them held. */
  public final AtomicInteger stackedPrefillCalls = new AtomicInteger();

  public volatile int largestStackedPrefill;

  /** A prompt whose first id is this fails to prefill (alone or stacked); -1: none. */
  public volatile int poisonFirstId = -1;

  volatile boolean closed;

  public FakeCausalLm(int vocab, int hidden, int slotCount, int maxSeqLen, float[] constantLogits) {
    this.vocab = vocab;
    this.hidden = hidden;
    this.maxSeqLen = maxSeqLen;
    this.constantLogits = constantLogits;
    for (int i = 0; i < slotCount; i++) slots.add(new ArrayList<>());
  }

  public static FakeCausalLm random(int vocab, int slotCount, int maxSeqLen) {
    return new FakeCausalLm(vocab, 4, slotCount, maxSeqLen, null);
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
    return slots.size();
  }

  @Override
  public int maxSeqLen() {
    return maxSeqLen;
  }

  @Override
  public float[] embed(int[] ids) {
    float[] out = new float[ids.length * hidden];
    for (int i = 0; i < ids.length; i++)
      for (int j = 0; j < hidden; j++) out[i * hidden + j] = ids[i] + 0.25f * j;
    return out;
  }

  @Override
  public float[][] prefill(int[] slotIds, float[][] inputEmbeds, int[] lens) {
    stackedPrefillCalls.incrementAndGet();
    largestStackedPrefill = Math.max(largestStackedPrefill, slotIds.length);
    return CausalLm.super.prefill(slotIds, inputEmbeds, lens);
  }

  @Override
  public float[] prefill(int slot, float[] inputEmbeds, int len) {
    prefillCalls.incrementAndGet();
    if (poisonFirstId >= 0 && inputEmbeds[0] == poisonFirstId)
      throw new IllegalStateException("poisoned prompt");
    if (len > maxSeqLen) throw new IllegalStateException("prefill of " + len + " > " + maxSeqLen);
    List<Float> h = slots.get(slot);
    h.clear();
    for (int i = 0; i < len; i++) h.add(inputEmbeds[i * hidden]);
    return logits(h);
  }

  @Override
  public float[][] decode(int[] slotIds, int[] ids) {
    decodeCalls.incrementAndGet();
    largestBatch = Math.max(largestBatch, slotIds.length);
    if (stepSleepMillis > 0) {
      try {
        Thread.sleep(stepSleepMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    float[][] out = new float[slotIds.length][];
    for (int i = 0; i < slotIds.length; i++) {
      List<Float> h = slots.get(slotIds[i]);
      if (h.isEmpty()) throw new IllegalStateException("decode on empty slot " + slotIds[i]);
      if (h.size() >= maxSeqLen) throw new IllegalStateException("slot " + slotIds[i] + " is full");
      h.add((float) ids[i]);
      out[i] = logits(h);
    }
    return out;
  }

  private float[] logits(List<Float> h) {
    if (constantLogits != null) return constantLogits.clone();
    long x = 1469598103934665603L;
    for (float f : h) x = (x ^ Float.floatToIntBits(f)) * 1099511628211L;
    float[] out = new float[vocab];
    for (int v = 0; v < vocab; v++) {
      long z = x + v * 0x9E3779B97F4A7C15L;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      z ^= z >>> 31;
      out[v] = (float) ((z >>> 11) * 0x1.0p-53 * 8 - 4);
    }
    return out;
  }

  @Override
  public void release(int slot) {
    slots.get(slot).clear();
  }

  @Override
  public int length(int slot) {
    return slots.get(slot).size();
  }

  @Override
  public void close() {
    closed = true;
  }
}
