package tandem.decoder.generate;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Qwen3ForCausalLM;

class SchedulerSmallKvBudgetTest {
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  private Qwen3ForCausalLM model(Path dir, int slots, long kvBytes) throws Exception {
    DecoderOptions o =
        new DecoderOptions("cpu", "float32", slots, 2048).withKvCache(kvBytes, "bf16", true);
    Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, o);
    open.add(lm);
    return lm;
  }

  /**
   * DecoderServer.start runs Scheduler.warmUp before it reports SERVING: up to 4 prompts of 256
   * tokens. The start accepts any KV budget that holds one block (DecodeKernel.kvBlocks); with a
   * budget of fewer than 257 positions warm-up's own prompt was once a TOO_LARGE refusal from
   * Scheduler.validate, and the server never started (with a message blaming "the prompt").
   */
  @Test
  void warmUpSucceedsWithASmallButValidKvBudget() throws Exception {
    Path dir = TinyCheckpoints.decoderTiny();
    long block = model(dir, 1, 0).kvStats().blockBytes();
    // 4 blocks: 128 positions with the Java kernel's 32-position blocks (64 with 16)
    Qwen3ForCausalLM lm = model(dir, 4, 4 * block);
    Scheduler s =
        new Scheduler(lm, new Scheduler.Config(64, 4096, 24, DecoderSettings.LIMIT_NAMES, 1.2, 5));
    open.add(s);
    assertDoesNotThrow(() -> s.warmUp(0), "warm-up with a KV budget of 4 blocks");
  }
}
