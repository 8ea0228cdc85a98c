package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.decoder.generate.PagedSchedulerTest.Prompt;
import tandem.decoder.generate.SchedulerTest.Collector;
import tandem.decoder.model.CausalLm;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.KvStats;
import tandem.decoder.model.PrefixKey;
import tandem.decoder.model.Qwen3ForCausalLM;

/**
 * Prompts that outnumber the decoding streams by the waiting-served ratio are prefilled in one
 * full-size step (the streams wait that step) instead of chunk by chunk; below the ratio, or with
 * the ratio 0, they go in chunks. Either way every stream gets the ids it gets alone.
 */
class WaitingServedRatioTest {
  private static final int CHUNK = 24;
  private static final int A_TOKENS = 400;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  /**
   * The real tiny model, recording of every pass the prompt rows it carried beside at least one
   * decode row (-1 for a pass without one). A slot's parts are decode rows once a part of it asked
   * for logits (its prompt's last chunk), until the slot starts over empty.
   */
  private static final class Recording implements CausalLm {
    final CausalLm m;
    final List<Integer> promptRowsBesideDecoding = new CopyOnWriteArrayList<>();
    private final boolean[] prompted;

    Recording(CausalLm m) {
      this.m = m;
      this.prompted = new boolean[m.slots()];
    }

    @Override
    public float[][] extend(int[] slots, float[][] embeds, int[] lens, boolean[] wantLogits) {
      boolean decoding = false;
      int prompt = 0;
      for (int i = 0; i < slots.length; i++) {
        if (m.length(slots[i]) == 0) prompted[slots[i]] = false;
        if (prompted[slots[i]]) decoding = true;
        else prompt += lens[i];
      }
      promptRowsBesideDecoding.add(decoding ? prompt : -1);
      float[][] out = m.extend(slots, embeds, lens, wantLogits);
      for (int i = 0; i < slots.length; i++) if (wantLogits[i]) prompted[slots[i]] = true;
      return out;
    }

    @Override
    public int vocabSize() {
      return m.vocabSize();
    }

    @Override
    public int hiddenSize() {
      return m.hiddenSize();
    }

    @Override
    public int slots() {
      return m.slots();
    }

    @Override
    public int maxSeqLen() {
      return m.maxSeqLen();
    }

    @Override
    public float[] embed(int[] ids) {
      return m.embed(ids);
    }

    @Override
    public float[] prefill(int slot, float[] inputEmbeds, int len) {
      return m.prefill(slot, inputEmbeds, len);
    }

    @Override
    public float[][] decode(int[] slots, int[] ids) {
      return m.decode(slots, ids);
    }

    @Override
    public void release(int slot) {
      m.release(slot);
    }

    @Override
    public int length(int slot) {
      return m.length(slot);
    }

    @Override
    public void close() {
      m.close();
    }

    @Override
    public boolean chunkedPrefill() {
      return m.chunkedPrefill();
    }

    @Override
    public int kvBlockTokens() {
      return m.kvBlockTokens();
    }

    @Override
    public KvStats kvStats() {
      return m.kvStats();
    }

    @Override
    public int kvShortfall(int slot, int tokens) {
      return m.kvShortfall(slot, tokens);
    }

    @Override
    public boolean prefixCaching() {
      return m.prefixCaching();
    }

    @Override
    public int reuse(int slot, PrefixKey[] keys, int maxBlocks) {
      return m.reuse(slot, keys, maxBlocks);
    }

    @Override
    public void offer(int slot, PrefixKey[] keys) {
      m.offer(slot, keys);
    }
  }

  private Recording model(int slots) throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    Recording lm =
        new Recording(
            Qwen3ForCausalLM.load(
                dir,
                new DecoderOptions("cpu", "float32", slots, 2048).withKvCache(0, "bf16", false)));
    open.add(lm);
    return lm;
  }

  private Scheduler scheduler(CausalLm lm, double ratio) {
    Scheduler s =
        new Scheduler(
            lm, new Scheduler.Config(64, 4096, CHUNK, DecoderSettings.LIMIT_NAMES, ratio, 0));
    open.add(open.size() - 1, s); // closed before its model
    return s;
  }

  private int[] alone(Prompt p, int n) throws Exception {
    Scheduler s = scheduler(model(1), 0);
    Collector c = new Collector();
    s.submit(p.request("alone", PagedSchedulerTest.greedy(n)), c);
    c.await();
    return c.array();
  }

  /**
   * One stream decodes; two prompts arrive. At ratio 1.2 (2 prompts ≥ 1.2 × 1 stream) a pass
   * carries both prompts' rows past the chunk beside the decode row; at ratio 0 and at ratio 3 (2 <
   * 3) none does.
   */
  @Test
  void promptsOutnumberingTheStreamsByTheRatioArePrefilledWholeAndEveryStreamKeepsItsIds()
      throws Exception {
    Prompt a = PagedSchedulerTest.fixture("c6_text_only");
    Prompt b = PagedSchedulerTest.fixture("c1_en_describe");
    Prompt c = PagedSchedulerTest.fixture("c4_en_multiturn");
    assertTrue(b.ids().length + c.ids().length > 2 * CHUNK, "the prompts need several chunks");
    // a decodes long enough to be still decoding when b and c are prefilled, on a slow machine too
    int[] wantA = alone(a, A_TOKENS);
    int[] wantB = alone(b, 6);
    int[] wantC = alone(c, 6);
    for (double ratio : new double[] {1.2, 0, 3}) {
      Recording lm = model(3);
      Scheduler s = scheduler(lm, ratio);
      Collector ca = new Collector();
      s.submit(a.request("a", PagedSchedulerTest.greedy(A_TOKENS)), ca);
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (ca.ids.isEmpty() && System.nanoTime() < until) Thread.sleep(1);
      assertFalse(ca.ids.isEmpty(), "a's first token");
      Collector cb = new Collector();
      Collector cc = new Collector();
      s.submit(b.request("b", PagedSchedulerTest.greedy(6)), cb);
      s.submit(c.request("c", PagedSchedulerTest.greedy(6)), cc);
      ca.await();
      cb.await();
      cc.await();
      String what = "ratio " + ratio;
      assertArrayEquals(wantA, ca.array(), what + ": a");
      assertArrayEquals(wantB, cb.array(), what + ": b");
      assertArrayEquals(wantC, cc.array(), what + ": c");
      int most = 0;
      for (int rows : lm.promptRowsBesideDecoding) most = Math.max(most, rows);
      if (ratio == 1.2) {
        assertTrue(
            most > 2 * CHUNK,
            what + ": the prompts went whole into a pass beside a decoding stream, most " + most);
      } else {
        assertTrue(most <= CHUNK, what + ": only chunks beside a decoding stream, most " + most);
      }
    }
  }

  @Test
  void aNegativeRatioIsRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new Scheduler.Config(64, 4096, CHUNK, DecoderSettings.LIMIT_NAMES, -0.5, 0));
  }
}
