package tandem.decoder.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tandem.decoder.model.DecoderTinyGoldensTest.maxAbsDiff;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.checkpoint.TensorStore;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;

/**
 * The Java kernel (weights in Java arrays) against the libtorch kernel on the same checkpoint: same
 * logits within float32 rounding of a different summation order and the same greedy ids, for a
 * batch of sequences of different lengths, in every exact weight format; q8_0's error stated and
 * bounded.
 */
class JavaKernelTest {
  private static final int STEPS = 8;
  private static final int[][] PROMPTS = {
    {9707, 11, 1879, 0},
    {151644, 872, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645, 198, 151644, 77091},
    {151643},
  };

  /**
   * With a float32 KV cache: the kernels' arithmetic is compared with libtorch's, which keeps
   * float32 K/V.
   */
  static Qwen3ForCausalLM load(Path dir, boolean java, String weights, int slots, int maxSeqLen)
      throws Exception {
    return load(dir, java, weights, slots, maxSeqLen, "f32");
  }

  static Qwen3ForCausalLM load(
      Path dir, boolean java, String weights, int slots, int maxSeqLen, String kv)
      throws Exception {
    ModelConfig mc = ModelConfig.fromDir(dir);
    try (TensorStore store = TensorStore.open(dir)) {
      return Qwen3ForCausalLM.load(
          store,
          mc.text(),
          mc.textPrefix(),
          new DecoderOptions("cpu", "float32", slots, maxSeqLen, weights).withKvCache(0, kv, true),
          java);
    }
  }

  /**
   * The pom's second test run (on Temurin 25) sets tandem.test.jdk: make sure it really ran there.
   */
  @Test
  void theseTestsRunOnTheJdkTheBuildAskedFor() {
    int feature = Runtime.version().feature();
    System.out.println(
        "decoder tests on Java " + Runtime.version() + ", " + PackedMatrix.L + " float lanes");
    assertEquals(Integer.getInteger("tandem.test.jdk", feature).intValue(), feature);
  }

  /** What decoder-svc loads with when no setting is given. */
  static final DecoderOptions SERVICE_DEFAULTS =
      DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(Map.of())).options();

  @Test
  void theTestJvmRunsTheJavaKernelOnTheCheckpointsBf16ByDefault() throws Exception {
    try (Qwen3ForCausalLM lm =
        Qwen3ForCausalLM.load(TinyCheckpoints.decoderTiny(), SERVICE_DEFAULTS)) {
      assertEquals("java", lm.decodeKernel(), "surefire's argLine adds jdk.incubator.vector");
      assertEquals("bf16", lm.weightFormat(), "the fixture checkpoints store BF16");
      // tied: embed_tokens (151936 x 64) once, plus 2 layers of q|k|v, o, gate|up, down, all 2
      // bytes a weight
      long perLayer = (128L * 64 + 64L * 64 + 384L * 64 + 64L * 192) * 2;
      assertEquals(151936L * 64 * 2 + 2 * perLayer, lm.weightBytesPerToken());
      assertTrue(lm.weightReadSeconds(1) > 0);
    }
  }

  @Test
  void javaKernelMatchesLibtorchStepByStepInBf16AndF32() throws Exception {
    for (Path dir : new Path[] {TinyCheckpoints.decoderTiny(), TinyCheckpoints.vlmTiny()}) {
      for (String weights : new String[] {"bf16", "f32"}) {
        try (Qwen3ForCausalLM java = load(dir, true, weights, 4, 48);
            Qwen3ForCausalLM torch = load(dir, false, "f32", 4, 48)) {
          assertEquals("java", java.decodeKernel());
          assertEquals(weights, java.weightFormat());
          assertEquals("torch", torch.decodeKernel());
          double worst = compare(java, torch, 1e-4);
          assertTrue(worst > 0, "two kernels that agree bit for bit would make this test vacuous");
          for (int s : new int[] {3, 0, 2}) java.release(s);
          assertEquals(0, java.kvStats().usedBlocks(), "released slots give their KV blocks back");
        }
      }
    }
  }

  /**
   * q8_0 is an approximation. Each weight is off by at most half a step, d/2 = max|w|/254 of its
   * block; for these uniform random weights that is an error of standard deviation d/√12 against
   * weights of deviation max|w|/√3, so each quantized product moves by ~1/254 = 0.39 % of its
   * spread. Ten such products (embedding, 2 layers × 4 matrices, lm_head) add up in quadrature on
   * the residual stream to ~1.2 % of the logits' spread, and the largest |Δ| over 151936 logits
   * against the largest logit is about that ratio. Measured (teacher-forced on f32's ids, worst of
   * 3 sequences × 9 distributions): 2.5e-2 on decoder-tiny, 2.3e-2 on vlm-tiny. The bound, 5e-2, is
   * twice the worst measured. llama.cpp's Q8_0 also rounds the activations to int8 before each
   * product, so its error on the same weights is at least this one's.
   */
  @Test
  void q8_0StaysWithinItsStatedErrorOfF32() throws Exception {
    for (Path dir : new Path[] {TinyCheckpoints.decoderTiny(), TinyCheckpoints.vlmTiny()}) {
      try (Qwen3ForCausalLM q8 = load(dir, true, "q8_0", 4, 48);
          Qwen3ForCausalLM f32 = load(dir, true, "f32", 4, 48)) {
        assertEquals("q8_0", q8.weightFormat());
        double rel = compareRelative(q8, f32);
        System.out.printf(
            "q8_0 vs f32 on %s: max |dlogit| / absmax = %.2e%n", dir.getFileName(), rel);
        assertTrue(rel < 5e-2, dir.getFileName() + ": q8_0 relative logit error " + rel);
        assertTrue(
            rel > 1e-5,
            "q8_0 must differ from f32 at all (or the test compares a format with itself)");
      }
    }
  }

  /**
   * The attention scores four K blocks a call, and a sequence's last call repeats its last block
   * where it has fewer than four left. At every block count from 1 to 7 (each remainder of 4), the
   * Java kernel with its default bf16 K/V stays within bf16's rounding of libtorch (float32 K/V),
   * teacher-forced on libtorch's ids: each K/V value moves by up to 2^-9 of itself, which moved
   * these logits by 1.0-5.9e-3 of their largest (2026-12-05), so the bound is 2e-2. Scores of a
   * repeated block written over the other head's (the scratch not padded) moved them by 0.43 at 129
   * positions.
   */
  @Test
  void bf16KvAttentionAtEveryBlockCountStaysWithinItsRoundingOfLibtorch() throws Exception {
    int bt = JavaKernel.BLOCK_TOKENS;
    int[] prompt = new int[bt + 3];
    for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7919 + 13) % 151643;
    Path dir = TinyCheckpoints.decoderTiny(); // 4 query heads on 2 kv heads: two heads a pass
    try (Qwen3ForCausalLM java = load(dir, true, "bf16", 1, 8 * bt, "bf16");
        Qwen3ForCausalLM torch = load(dir, false, "f32", 1, 8 * bt)) {
      float[] x = java.prefill(0, java.embed(prompt), prompt.length);
      float[] y = torch.prefill(0, torch.embed(prompt), prompt.length);
      double worst = 0;
      for (int len = prompt.length; len < 7 * bt; len++) {
        double absmax = 0;
        for (float v : y) absmax = Math.max(absmax, Math.abs(v));
        double rel = maxAbsDiff(x, y) / absmax;
        assertTrue(rel <= 2e-2, "at " + len + " positions: max |dlogit| / absmax " + rel);
        worst = Math.max(worst, rel);
        int next = Greedy.argmax(y);
        x = java.decode(new int[] {0}, new int[] {next})[0];
        y = torch.decode(new int[] {0}, new int[] {next})[0];
      }
      System.out.printf("bf16 KV vs libtorch up to %d positions: %.2e%n", 7 * bt, worst);
      assertTrue(worst > 0, "bf16 K/V that changed nothing would make this test vacuous");
    }
  }

  @Test
  void aPromptPrefilledInPiecesAfterItsCachedPrefixEqualsOnePass() throws Exception {
    try (Qwen3ForCausalLM lm = load(TinyCheckpoints.decoderTiny(), true, "bf16", 2, 300)) {
      JavaKernel k = kernel(lm);
      int[] ids = new int[150];
      for (int i = 0; i < ids.length; i++) ids[i] = (i * 7919) % 151643;
      float[] all = lm.prefill(0, lm.embed(ids), ids.length);
      float[] emb = lm.embed(ids);
      int h = lm.hiddenSize();
      // three pieces into slot 1: positions 0..69, 70..70, 71..149
      k.prefill(1, 0, Arrays.copyOfRange(emb, 0, 70 * h), 70);
      k.prefill(1, 70, Arrays.copyOfRange(emb, 70 * h, 71 * h), 1);
      float[] pieces = k.prefill(1, 71, Arrays.copyOfRange(emb, 71 * h, 150 * h), 79);
      assertArrayEquals(
          all, pieces, "every row is summed in the same order whatever the pass it is in");
    }
  }

  @Test
  void theKvCacheGrowsWithTheTokensHeldAndIsReused() throws Exception {
    for (String kv : new String[] {"bf16", "f32"}) {
      try (Qwen3ForCausalLM lm = load(TinyCheckpoints.decoderTiny(), true, "bf16", 3, 4096, kv)) {
        assertEquals(0, lm.kvStats().usedBlocks());
        int[] ids = new int[JavaKernel.BLOCK_TOKENS + 1];
        lm.prefill(1, lm.embed(ids), ids.length);
        assertEquals(2, lm.kvStats().usedBlocks(), "one full block and one started");
        long bytes = lm.kvStats().bytesAllocated();
        // 2 layers x (K + V) x 2 kv heads x 16 dims x 2 (bf16) or 4 (f32) bytes per position, two
        // blocks
        assertEquals(
            2L * 2 * 2 * 16 * (kv.equals("bf16") ? 2 : 4) * 2 * JavaKernel.BLOCK_TOKENS, bytes, kv);
        lm.release(1);
        assertEquals(0, lm.kvStats().usedBlocks());
        lm.prefill(2, lm.embed(ids), ids.length);
        assertEquals(
            bytes, lm.kvStats().bytesAllocated(), "freed blocks are reused, not allocated again");
      }
    }
  }

  @Test
  void withPreallocationEveryBlockOfTheBudgetExistsAtLoadAndTheResultsAreTheSame()
      throws Exception {
    Path dir = TinyCheckpoints.decoderTiny();
    ModelConfig mc = ModelConfig.fromDir(dir);
    int[] ids = new int[JavaKernel.BLOCK_TOKENS + 3];
    for (int i = 0; i < ids.length; i++) ids[i] = 1 + 7 * i;
    float[] lazyLogits;
    try (Qwen3ForCausalLM lazy = load(dir, true, "bf16", 3, 256, "bf16")) {
      assertEquals(0, lazy.kvStats().bytesAllocated(), "nothing before the first token");
      lazyLogits = lazy.prefill(0, lazy.embed(ids), ids.length);
    }
    try (TensorStore store = TensorStore.open(dir);
        Qwen3ForCausalLM pre =
            Qwen3ForCausalLM.load(
                store,
                mc.text(),
                mc.textPrefix(),
                new DecoderOptions("cpu", "float32", 3, 256, "bf16")
                    .withKvCache(0, "bf16", true)
                    .withKvPreallocate(true),
                true)) {
      KvStats k = pre.kvStats();
      assertEquals(3 * 256 / JavaKernel.BLOCK_TOKENS, k.capacityBlocks());
      assertEquals(k.capacityBlocks() * k.blockBytes(), k.bytesAllocated(), "all of them at load");
      assertEquals(k.capacityBlocks(), k.availableBlocks());
      assertArrayEquals(lazyLogits, pre.prefill(0, pre.embed(ids), ids.length));
      assertEquals(k.bytesAllocated(), pre.kvStats().bytesAllocated(), "none created after");
    }
  }

  @Test
  void theLibtorchKernelStillServesWhenAskedForAndPagesItsKvCache() throws Exception {
    try (Qwen3ForCausalLM lm = load(TinyCheckpoints.decoderTiny(), false, "auto", 3, 4096)) {
      assertEquals("torch", lm.decodeKernel());
      assertEquals("f32", lm.weightFormat());
      assertEquals(TorchKernel.BLOCK_TOKENS, lm.kvBlockTokens());
      assertEquals("f32", lm.kvStats().dtype());
      assertEquals(0, lm.kvStats().usedBlocks());
      int[] ids = new int[TorchKernel.BLOCK_TOKENS + 1];
      lm.prefill(1, lm.embed(ids), ids.length);
      assertEquals(2, lm.kvStats().usedBlocks(), "one full block and one started");
      lm.decode(new int[] {1}, new int[] {7});
      assertEquals(2, lm.kvStats().usedBlocks(), "the next position fits the started block");
      lm.release(1);
      assertEquals(0, lm.kvStats().usedBlocks(), "a released slot gives its blocks back");
    }
  }

  /**
   * With libtorch the rows of a step still choose their tokens at once, on the CPU compute pool:
   * two rows that each wait for the other finish only if they run side by side (one after another,
   * the first would wait out its 10 s and the test fail).
   */
  @Test
  void theLibtorchKernelsRowsChooseAtOnceOnTheCpuPool() throws Exception {
    int before = ComputeThreads.get();
    if (before < 2) ComputeThreads.set(2);
    try (Qwen3ForCausalLM lm = load(TinyCheckpoints.decoderTiny(), false, "auto", 2, 64)) {
      assertEquals("torch", lm.decodeKernel());
      java.util.concurrent.CountDownLatch both = new java.util.concurrent.CountDownLatch(2);
      java.util.Set<String> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
      boolean[] met = new boolean[2];
      lm.forEachRow(
          2,
          i -> {
            threads.add(Thread.currentThread().getName());
            both.countDown();
            try {
              met[i] = both.await(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      assertTrue(met[0] && met[1], "both rows ran at the same time: " + threads);
      assertEquals(2, threads.size(), threads.toString());
    } finally {
      if (before < 2) ComputeThreads.set(before);
    }
  }

  @Test
  void theGpuKvBudgetIsTheFractionLessWhatIsInUseAndTheActivationHeadroom() {
    long gib = 1L << 30;
    assertEquals(0, TorchKernel.gpuKvBudget(8 * gib, 7 * gib, 0.9), "nothing left is 0, not less");
    // the same figures worked out by hand: 72 GiB allowed, 3 in use, 1 for activations
    assertEquals(68L << 30, TorchKernel.gpuKvBudget(80 * gib, 3 * gib, 0.9));
    assertEquals(1L << 30, TorchKernel.GPU_ACTIVATION_HEADROOM);
  }

  @Test
  void aKvBudgetBelowOneBlockStopsTheLoadAndNamesTheSetting() throws Exception {
    DecoderOptions o = new DecoderOptions("cpu", "float32", 2, 64).withKvCache(1000, "bf16", true);
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> Qwen3ForCausalLM.load(TinyCheckpoints.decoderTiny(), o).close());
    assertTrue(e.getMessage().contains("KV budget of 1000 bytes holds no block"), e.getMessage());
    assertTrue(e.getMessage().contains("TANDEM_DECODER_KV_CACHE_BYTES"), e.getMessage());
    // both kernels size their pools here: one block's bytes is the least that starts
    assertEquals(1, DecodeKernel.kvBlocks(4096, 4096, 16, o));
    assertThrows(IllegalStateException.class, () -> DecodeKernel.kvBlocks(4095, 4096, 16, o));
    assertEquals(8, DecodeKernel.kvBlocks(1L << 40, 4096, 16, o), "2 slots x 64 positions cap it");
  }

  private static JavaKernel kernel(Qwen3ForCausalLM lm) throws Exception {
    var f = Qwen3ForCausalLM.class.getDeclaredField("kernel");
    f.setAccessible(true);
    return (JavaKernel) f.get(lm);
  }

  private static final int[] SLOTS = {3, 0, 2};

  /**
   * The prompts prefilled into slots 3, 0, 2 (out of order, to catch row/slot mix-ups): each one's
   * logits.
   */
  private static float[][] prefillAll(CausalLm lm) {
    float[][] out = new float[PROMPTS.length][];
    for (int i = 0; i < PROMPTS.length; i++)
      out[i] = lm.prefill(SLOTS[i], lm.embed(PROMPTS[i]), PROMPTS[i].length);
    return out;
  }

  /**
   * Runs the prompts in slots 3, 0, 2 and decodes greedily on a, checking every step's logits
   * within {@code tol} of b's and the same ids; returns the worst |Δlogit| seen.
   */
  private static double compare(CausalLm a, CausalLm b, double tol) {
    int n = PROMPTS.length;
    int[] slots = SLOTS; // out of order, to catch row/slot mix-ups
    float[][] x = prefillAll(a);
    float[][] y = prefillAll(b);
    double worst = 0;
    for (int k = 0; k < STEPS; k++) {
      int[] next = new int[n];
      for (int i = 0; i < n; i++) {
        double diff = maxAbsDiff(x[i], y[i]);
        worst = Math.max(worst, diff);
        assertTrue(diff <= tol, "seq " + i + " step " + k + ": max |Δlogit| " + diff);
        next[i] = Greedy.argmax(x[i]);
        assertEquals(Greedy.argmax(y[i]), next[i], "seq " + i + " step " + k);
      }
      x = a.decode(slots, next);
      y = b.decode(slots, next);
    }
    for (int i = 0; i < n; i++) assertEquals(PROMPTS[i].length + STEPS, a.length(slots[i]));
    return worst;
  }

  /**
   * Like {@link #compare}, teacher-forced on b's greedy ids (the reference's); the worst max |Δ| /
   * max|logit b|.
   */
  private static double compareRelative(CausalLm a, CausalLm b) {
    int n = PROMPTS.length;
    int[] slots = SLOTS; // out of order, to catch row/slot mix-ups
    float[][] x = prefillAll(a);
    float[][] y = prefillAll(b);
    double worst = 0;
    for (int k = 0; k < STEPS; k++) {
      int[] next = new int[n];
      for (int i = 0; i < n; i++) {
        double absmax = 0;
        for (float v : y[i]) absmax = Math.max(absmax, Math.abs(v));
        worst = Math.max(worst, maxAbsDiff(x[i], y[i]) / absmax);
        next[i] = Greedy.argmax(y[i]);
      }
      x = a.decode(slots, next);
      y = b.decode(slots, next);
    }
    return worst;
  }
}
