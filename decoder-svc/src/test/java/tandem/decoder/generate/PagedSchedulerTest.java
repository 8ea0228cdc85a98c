package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.error.Rejection;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.decoder.generate.SchedulerTest.Collector;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.PrefixKey;
import tandem.decoder.model.Qwen3ForCausalLM;

/**
 * The scheduler over the real (tiny) model with its paged KV cache: prefix reuse, chunked prefill
 * mixed with decode rows, preemption under a small budget. The ids a request gets must not depend
 * on any of them: every answer is checked against the same request run alone, with reuse off and
 * the whole prompt in one pass.
 */
class PagedSchedulerTest {
  private static final int NEW_TOKENS = 12;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  /**
   * A fixture conversation: its prompt ids, and the image rows spliced at its image-token
   * positions.
   */
  record Prompt(int[] ids, float[] rows, int imageTokenId) {
    GenerationRequest request(String id, GenerationSettings g) {
      return new GenerationRequest(id, ids, rows, imageTokenId, g);
    }
  }

  static Prompt fixture(String conversation) throws Exception {
    int imageToken = ModelConfig.fromDir(TinyCheckpoints.vlmTiny()).imageTokenId();
    JsonObject all =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/prompts.json")))
            .getAsJsonObject();
    for (JsonElement c : all.getAsJsonArray("conversations")) {
      if (!c.getAsJsonObject().get("id").getAsString().equals(conversation)) continue;
      var a = c.getAsJsonObject().getAsJsonArray("input_ids");
      int[] ids = new int[a.size()];
      for (int i = 0; i < ids.length; i++) ids[i] = a.get(i).getAsInt();
      Npy.Array e =
          Npy.read(Fixtures.path("vlm-tiny/references/" + conversation + ".inputs_embeds.npy"));
      int h = (int) e.shape()[1];
      float[] merged = e.floats();
      int n = Splice.countImageTokens(ids, imageToken);
      float[] rows = new float[n * h];
      int r = 0;
      for (int p = 0; p < ids.length; p++) {
        if (ids[p] == imageToken) System.arraycopy(merged, p * h, rows, h * r++, h);
      }
      return new Prompt(ids, rows, imageToken);
    }
    throw new AssertionError("no conversation " + conversation);
  }

  static GenerationSettings greedy(int n) {
    return new GenerationSettings(n, n, 0, 1f, false, 1f, 0, 1f, 0, new int[0]);
  }

  /** The kernel the models of a test load: "java", or "torch" (libtorch on the CPU). */
  private String kernel = "java";

  private Qwen3ForCausalLM model(Path dir, int slots, long kvBytes, String kvDtype, boolean prefix)
      throws Exception {
    DecoderOptions o =
        new DecoderOptions("cpu", "float32", slots, 2048).withKvCache(kvBytes, kvDtype, prefix);
    String before = System.getProperty(Qwen3ForCausalLM.KERNEL_PROPERTY);
    System.setProperty(Qwen3ForCausalLM.KERNEL_PROPERTY, kernel);
    Qwen3ForCausalLM lm;
    try {
      lm = Qwen3ForCausalLM.load(dir, o);
    } finally {
      if (before == null) System.clearProperty(Qwen3ForCausalLM.KERNEL_PROPERTY);
      else System.setProperty(Qwen3ForCausalLM.KERNEL_PROPERTY, before);
    }
    open.add(lm);
    assertEquals(kernel, lm.decodeKernel());
    return lm;
  }

  private Scheduler scheduler(Qwen3ForCausalLM lm, int chunk) {
    Scheduler s =
        new Scheduler(lm, new Scheduler.Config(64, 4096, chunk, DecoderSettings.LIMIT_NAMES));
    open.add(0, s); // closed before its model
    return s;
  }

  private static Collector run(Scheduler s, GenerationRequest r) throws Exception {
    Collector c = new Collector();
    s.submit(r, c);
    c.await();
    return c;
  }

  /** The request alone: reuse off, the whole prompt in one pass. */
  private int[] alone(Path dir, String kv, GenerationRequest r) throws Exception {
    return run(scheduler(model(dir, 1, 0, kv, false), 4096), r).array();
  }

  @Test
  void idsDoNotDependOnChunkSizeOrPrefixReuseAndRepeatsReuseWholeBlocks() throws Exception {
    idsDoNotDependOnChunkSizeOrPrefixReuse(
        new String[] {"bf16", "f32"}, new int[] {1, 7, 64, 4096});
  }

  /** libtorch (the CUDA path, here on the CPU) pages its KV through the same pool and cache. */
  @Test
  void onLibtorchTooIdsDoNotDependOnChunkSizeOrPrefixReuse() throws Exception {
    kernel = "torch";
    idsDoNotDependOnChunkSizeOrPrefixReuse(new String[] {"f32"}, new int[] {1, 7, 4096});
  }

  private void idsDoNotDependOnChunkSizeOrPrefixReuse(String[] kvs, int[] chunks) throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    List<Prompt> prompts =
        List.of(fixture("c1_en_describe"), fixture("c4_en_multiturn"), fixture("c6_text_only"));
    for (String kv : kvs) {
      int[][] want = new int[prompts.size()][];
      for (int k = 0; k < want.length; k++) {
        want[k] = alone(dir, kv, prompts.get(k).request("alone", greedy(NEW_TOKENS)));
      }
      for (int chunk : chunks) {
        Qwen3ForCausalLM lm = model(dir, 2, 0, kv, true);
        Scheduler s = scheduler(lm, chunk);
        int bt = lm.kvBlockTokens();
        for (int k = 0; k < prompts.size(); k++) {
          Prompt p = prompts.get(k);
          String what = kv + " chunk " + chunk + " prompt " + k;
          Collector first = run(s, p.request("first", greedy(NEW_TOKENS)));
          assertArrayEquals(want[k], first.array(), what + ": first run");
          int common = commonPrefix(prompts, k);
          // whole blocks inside the shared prefix, short of the block holding the last position
          assertEquals(
              expectedReuse(p.ids().length, common, bt),
              first.await().cachedPromptTokens(),
              what + ": only what an earlier prompt shares is cached before the first run");
          Collector again = run(s, p.request("again", greedy(NEW_TOKENS)));
          assertArrayEquals(want[k], again.array(), what + ": the run that reused its prefix");
          assertEquals(
              expectedReuse(p.ids().length, p.ids().length, bt),
              again.await().cachedPromptTokens(),
              what + ": every full block but the one holding the last prompt position is reused");
        }
        assertEquals(0, s.metrics().kv().usedBlocks(), "finished sequences hold no blocks");
      }
    }
    // anchored to the float64 reference too (f32 K/V): c6's greedy ids from the fixtures
    var refJson = fixtureReference("c6_text_only");
    int[] ref = new int[refJson.size()];
    for (int i = 0; i < ref.length; i++) ref[i] = refJson.get(i).getAsInt();
    int[] got = alone(dir, "f32", prompts.get(2).request("ref", greedy(ref.length)));
    assertArrayEquals(ref, got, "c6 greedy ids against the reference");
  }

  /**
   * Prompt positions a prompt of {@code length} reuses when its first {@code shared} positions are
   * cached: the whole blocks among them, short of the block holding the last position, except that
   * a prompt cached to its end in whole blocks takes its last block as a copy and computes only its
   * last position.
   */
  private static int expectedReuse(int length, int shared, int bt) {
    if (shared >= length && length % bt == 0) return length - 1;
    return Math.min(shared / bt, (length - 1) / bt) * bt;
  }

  /** c1 (an image and its question) padded with c6's text to a whole number of 32 positions. */
  private static Prompt wholeBlocks() throws Exception {
    Prompt c1 = fixture("c1_en_describe");
    int[] text = fixture("c6_text_only").ids();
    int len = (c1.ids().length / 32 + 1) * 32;
    int[] ids = Arrays.copyOf(c1.ids(), len);
    for (int i = c1.ids().length, j = 0; i < len; i++, j = (j + 1) % text.length) ids[i] = text[j];
    return new Prompt(ids, c1.rows(), c1.imageTokenId());
  }

  @Test
  void aPromptCachedToItsEndComputesOnlyItsLastPositionAgainWithTheSameIds() throws Exception {
    wholeBlockPrompts(new String[] {"bf16", "f32"});
  }

  @Test
  void onLibtorchTooAPromptCachedToItsEndComputesOnlyItsLastPositionAgain() throws Exception {
    kernel = "torch";
    wholeBlockPrompts(new String[] {"f32"});
  }

  @Test
  void aCopiedLastBlockGivesTheLastPositionTheLogitsOfTheWholePrompt() throws Exception {
    for (String kv : new String[] {"bf16", "f32"}) copiedBlockLogits(kv, 0f);
  }

  @Test
  void onLibtorchTooACopiedLastBlockGivesTheLastPositionTheLogitsOfTheWholePrompt()
      throws Exception {
    kernel = "torch";
    copiedBlockLogits("f32", 1e-4f); // libtorch's sums may group a 64-row pass differently
  }

  /**
   * A 64-token prompt prefilled in slot 0 and cached; slot 1 then takes its first blocks shared and
   * its last as a copy, and computes only position 63: its logits are the whole prompt's.
   */
  private void copiedBlockLogits(String kv, float tolerance) throws Exception {
    Qwen3ForCausalLM lm = model(TinyCheckpoints.vlmTiny(), 2, 0, kv, true);
    int bt = lm.kvBlockTokens();
    int[] text = fixture("c6_text_only").ids();
    int len = 64;
    int[] ids = new int[len];
    for (int i = 0; i < len; i++) ids[i] = text[i % text.length];
    float[] x = lm.embed(ids);
    float[] whole = lm.prefill(0, x, len);
    int[] noImage = new int[len];
    Arrays.fill(noImage, -1);
    PrefixKey[] keys = new PrefixKeys(bt, noImage, new float[0], lm.hiddenSize()).upTo(ids, len);
    lm.offer(0, keys);
    lm.release(0);
    int blocks = len / bt;
    assertEquals((blocks - 1) * bt, lm.reuse(1, keys, blocks - 1));
    assertEquals(len - 1, lm.reuseCopy(1, keys[blocks - 1], len - 1, 0));
    int h = lm.hiddenSize();
    float[] last = Arrays.copyOfRange(x, (len - 1) * h, len * h);
    float[] again =
        lm.extend(new int[] {1}, new float[][] {last}, new int[] {1}, new boolean[] {true})[0];
    assertArrayEquals(whole, again, tolerance, kv + ": the last position's logits");
    assertThrows(
        IllegalArgumentException.class,
        () -> lm.reuseCopy(0, keys[0], bt + 1, 0),
        "a copy goes right after the blocks a slot holds");
    lm.release(1);
    assertEquals(0, lm.kvStats().usedBlocks());
  }

  private void wholeBlockPrompts(String[] kvs) throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    Prompt p = wholeBlocks();
    int len = p.ids().length;
    for (String kv : kvs) {
      int[] want = alone(dir, kv, p.request("alone", greedy(NEW_TOKENS)));
      Qwen3ForCausalLM lm = model(dir, 2, 0, kv, true);
      Scheduler s = scheduler(lm, 64);
      assertEquals(0, len % lm.kvBlockTokens(), "the prompt fills whole blocks");
      Collector first = run(s, p.request("first", greedy(NEW_TOKENS)));
      assertArrayEquals(want, first.array(), kv + ": first run");
      assertEquals(0, first.await().cachedPromptTokens());
      long hitsBefore = s.metrics().kv().prefixHits();
      Collector again = run(s, p.request("again", greedy(NEW_TOKENS)));
      assertArrayEquals(want, again.array(), kv + ": the run that reused all but one position");
      assertEquals(
          len - 1,
          again.await().cachedPromptTokens(),
          kv + ": every block is reused, the last as a copy, and only the last position computed");
      assertEquals(
          len / lm.kvBlockTokens(),
          s.metrics().kv().prefixHits() - hitsBefore,
          kv + ": the copied block counts as a hit");
      // the cached last block was not written by the run that copied it: a third run still gets
      // the same ids from it, two at once (both copy it)
      Collector c = new Collector();
      Collector d = new Collector();
      s.submit(p.request("third", greedy(NEW_TOKENS)), c);
      s.submit(p.request("fourth", greedy(NEW_TOKENS)), d);
      c.await();
      d.await();
      assertArrayEquals(want, c.array(), kv + ": third run");
      assertArrayEquals(want, d.array(), kv + ": fourth run, beside the third");
      assertEquals(len - 1, d.await().cachedPromptTokens());
      assertEquals(0, s.metrics().kv().usedBlocks(), "finished sequences hold no blocks");
    }
  }

  /**
   * The longest prefix that prompt k shares with an earlier one, counted as positions whose inputs
   * match (ids, and image rows where both have one); c4 opens with c1's image, for example.
   */
  private static int commonPrefix(List<Prompt> prompts, int k) {
    int best = 0;
    Prompt p = prompts.get(k);
    for (int j = 0; j < k; j++) {
      Prompt q = prompts.get(j);
      int images = Splice.countImageTokens(p.ids(), p.imageTokenId());
      int h = images == 0 ? 0 : p.rows().length / images;
      int n = 0;
      int r = 0;
      while (n < Math.min(p.ids().length, q.ids().length) && p.ids()[n] == q.ids()[n]) {
        if (p.ids()[n] == p.imageTokenId()) {
          if (!Arrays.equals(p.rows(), r * h, (r + 1) * h, q.rows(), r * h, (r + 1) * h)) break;
          r++;
        }
        n++;
      }
      best = Math.max(best, n);
    }
    return best;
  }

  private static com.google.gson.JsonArray fixtureReference(String conversation) throws Exception {
    return JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/references.json")))
        .getAsJsonObject()
        .getAsJsonObject("conversations")
        .getAsJsonObject(conversation)
        .getAsJsonArray("greedy_plain_ids");
  }

  @Test
  void aLaterTurnReusesTheEarlierTurnIncludingItsAnswer() throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    Prompt turn1 = fixture("c4_en_multiturn");
    Qwen3ForCausalLM lm = model(dir, 2, 0, "bf16", true);
    Scheduler s = scheduler(lm, 64);
    int[] answer = run(s, turn1.request("turn-1", greedy(40))).array();
    int[] follow = fixture("c6_text_only").ids();
    int[] ids = new int[turn1.ids().length + answer.length + follow.length];
    System.arraycopy(turn1.ids(), 0, ids, 0, turn1.ids().length);
    System.arraycopy(answer, 0, ids, turn1.ids().length, answer.length);
    System.arraycopy(follow, 0, ids, turn1.ids().length + answer.length, follow.length);
    Prompt turn2 = new Prompt(ids, turn1.rows(), turn1.imageTokenId());
    Collector c = run(s, turn2.request("turn-2", greedy(NEW_TOKENS)));
    int bt = lm.kvBlockTokens();
    int held =
        turn1.ids().length + answer.length - 1; // turn 1's last token was emitted, never fed back
    assertEquals(
        held / bt * bt, c.await().cachedPromptTokens(), "turn 1's prompt and answer are reused");
    assertTrue(
        c.await().cachedPromptTokens() > turn1.ids().length, "the answer's blocks count too");
    assertArrayEquals(alone(dir, "bf16", turn2.request("alone", greedy(NEW_TOKENS))), c.array());
  }

  @Test
  void anotherImageReusesOnlyTheBlocksBeforeItsFirstDifferentRow() throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    Prompt p = fixture("c1_en_describe");
    int h = p.rows().length / Splice.countImageTokens(p.ids(), p.imageTokenId());
    float[] other = p.rows().clone();
    int changedRow = 300;
    other[changedRow * h + 5] +=
        0.5f; // one value of one row: another image as far as the cache can tell
    int changedAt = -1;
    for (int pos = 0, r = -1; pos < p.ids().length && changedAt < 0; pos++) {
      if (p.ids()[pos] == p.imageTokenId() && ++r == changedRow) changedAt = pos;
    }
    Prompt q = new Prompt(p.ids(), other, p.imageTokenId());
    Qwen3ForCausalLM lm = model(dir, 2, 0, "bf16", true);
    Scheduler s = scheduler(lm, 64);
    run(s, p.request("first", greedy(NEW_TOKENS)));
    Collector c = run(s, q.request("other-image", greedy(NEW_TOKENS)));
    int bt = lm.kvBlockTokens();
    assertEquals(
        changedAt / bt * bt,
        c.await().cachedPromptTokens(),
        "reuse stops at the block of the changed row");
    assertArrayEquals(alone(dir, "bf16", q.request("alone", greedy(NEW_TOKENS))), c.array());
  }

  @Test
  void randomArrivalsCancelsAndPreemptionsUnderASmallBudgetGiveEveryStreamItsAnswerAlone()
      throws Exception {
    randomArrivalsCancelsAndPreemptions();
  }

  @Test
  void onLibtorchTooRandomArrivalsCancelsAndPreemptionsGiveEveryStreamItsAnswerAlone()
      throws Exception {
    kernel = "torch";
    randomArrivalsCancelsAndPreemptions();
  }

  /** {@code c}, except that its first token waits (at most 20 s) for {@code go}. */
  private static GenerationListener heldAtFirstToken(
      Collector c, java.util.concurrent.CountDownLatch go) {
    return new GenerationListener() {
      @Override
      public void onToken(int id) {
        try {
          if (c.ids.isEmpty()) go.await(20, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        c.onToken(id);
      }

      @Override
      public void onFinish(GenerationResult r) {
        c.onFinish(r);
      }
    };
  }

  private void randomArrivalsCancelsAndPreemptions() throws Exception {
    Path dir = TinyCheckpoints.decoderTiny();
    SplittableRandom rnd = new SplittableRandom(20261203);
    int[] shared = new int[40];
    for (int i = 0; i < shared.length; i++) shared[i] = 1 + rnd.nextInt(150000);
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int k = 0; k < 16; k++) {
      int len = 20 + rnd.nextInt(41);
      int[] ids = new int[len];
      boolean prefixed = k % 2 == 0 && len > shared.length;
      for (int i = 0; i < len; i++)
        ids[i] = prefixed && i < shared.length ? shared[i] : 1 + rnd.nextInt(150000);
      int n = 24 + rnd.nextInt(17);
      GenerationSettings g =
          k % 3 == 0
              ? new GenerationSettings(
                  n, n, 0, 1f, true, 0.8f, 40, 0.95f, 1000 + k, new int[0]) // sampled, seeded
              : greedy(n);
      reqs.add(new GenerationRequest("r" + k, ids, new float[0], -1, g));
    }
    int[][] want = new int[reqs.size()][];
    Scheduler lone = scheduler(model(dir, 1, 0, "bf16", false), 4096);
    for (int k = 0; k < want.length; k++) want[k] = run(lone, reqs.get(k)).array();

    Qwen3ForCausalLM probe = model(dir, 1, 0, "bf16", true);
    long block = probe.kvStats().blockBytes();
    // 128 positions for four slots, whatever the kernel's block size (32 in Java, 16 in libtorch):
    // they must take turns, and a request of up to 100 positions still fits alone
    int blocks = 128 / probe.kvBlockTokens();
    Qwen3ForCausalLM lm = model(dir, 4, blocks * block, "bf16", true);
    assertEquals(blocks, lm.kvStats().capacityBlocks());
    Scheduler s = scheduler(lm, 16);
    List<Collector> cs = new ArrayList<>();
    List<Scheduler.Handle> hs = new ArrayList<>();
    // The tiny model can finish a request within the few milliseconds between two arrivals, and
    // then nothing ever runs beside it: the first request's first token holds the scheduler's
    // thread until six requests are in, so they contend for the budget from the start.
    java.util.concurrent.CountDownLatch sixIn = new java.util.concurrent.CountDownLatch(1);
    for (int k = 0; k < reqs.size(); k++) {
      Collector c = new Collector();
      GenerationListener l = k == 0 ? heldAtFirstToken(c, sixIn) : c;
      hs.add(s.submit(reqs.get(k), l));
      cs.add(c);
      if (k == 5) sixIn.countDown();
      Thread.sleep(rnd.nextInt(4));
    }
    int[] cancelled = {3, 8, 13};
    for (int k : cancelled) {
      long deadline = System.nanoTime() + 20_000_000_000L;
      while (cs.get(k).ids.size() < 2 && !cs.get(k).done.isDone() && System.nanoTime() < deadline)
        Thread.sleep(1);
      hs.get(k).cancel();
    }
    for (int k = 0; k < reqs.size(); k++) {
      GenerationResult r = cs.get(k).await();
      int[] got = cs.get(k).array();
      final int kk = k;
      if (Arrays.stream(cancelled).anyMatch(x -> x == kk) && r.reason() == FinishReason.CANCELLED) {
        assertArrayEquals(
            Arrays.copyOf(want[k], got.length), got, "request " + k + " (cancelled): a prefix");
      } else {
        assertEquals(FinishReason.LENGTH, r.reason(), "request " + k + ": " + r);
        assertArrayEquals(want[k], got, "request " + k);
      }
    }
    SchedulerMetrics m = s.metrics();
    assertTrue(
        m.preemptions() > 0, "the budget never forced a preemption, so this test exercised none");
    assertTrue(m.cachedPromptTokens() > 0, "no prefix was reused");
    assertEquals(0, m.activeSequences());
    assertEquals(
        0,
        m.kv().usedBlocks(),
        "cancelled, finished and preempted sequences all gave their blocks back");
  }

  @Test
  void aPromptOverTheWholeBudgetIsRejectedNamingItAndOneThatFillsItAloneEndsWithLength()
      throws Exception {
    Path dir = TinyCheckpoints.decoderTiny();
    long block = model(dir, 1, 0, "bf16", true).kvStats().blockBytes();
    Qwen3ForCausalLM lm = model(dir, 2, 4 * block, "bf16", true);
    int bt = lm.kvBlockTokens();
    Scheduler s = scheduler(lm, 16);
    int[] tooLong = new int[4 * bt];
    Arrays.fill(tooLong, 5);
    Rejection e =
        assertThrows(
            Rejection.class,
            () ->
                s.submit(
                    new GenerationRequest("big", tooLong, new float[0], -1, greedy(4)),
                    new Collector()));
    assertEquals(Rejection.Kind.TOO_LARGE, e.kind());
    assertTrue(e.getMessage().contains("TANDEM_DECODER_KV_CACHE_BYTES"), e.getMessage());

    int[] prompt = new int[2 * bt];
    Arrays.fill(prompt, 9);
    Collector c = run(s, new GenerationRequest("fills", prompt, new float[0], -1, greedy(10 * bt)));
    assertEquals(FinishReason.LENGTH, c.await().reason());
    // four blocks hold 4·bt positions; the token emitted last is never fed back, so one more is
    // generated
    assertEquals(4 * bt - prompt.length + 1, c.await().generatedTokens());
    assertEquals(0, s.metrics().kv().usedBlocks());
  }
}
