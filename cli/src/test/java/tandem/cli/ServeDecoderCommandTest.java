package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.config.Setting;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.GenerationParams;

/**
 * decoder-svc as the CLI starts it (real Netty port), against {@code vlm generate} and {@code vlm
 * bench decode}.
 */
class ServeDecoderCommandTest {
  private static DecoderServer server;
  private static ManagedChannel channel;

  @BeforeAll
  static void start() throws Exception {
    Path dir = TinyCheckpoints.decoderTiny();
    DecoderServerConfig config =
        DecoderServerConfig.of(dir, "cpu", "float32", 0, 4, 256, 8, 16 << 20, 512);
    server =
        DecoderServer.start(
            config, ServerHost.internal(config.port(), Env.system(), Telemetry.noop()));
    channel = NettyChannelBuilder.forTarget("localhost:" + server.port()).usePlaintext().build();
  }

  @AfterAll
  static void stop() {
    channel.shutdownNow();
    server.close();
  }

  @Test
  void aStreamsGreedyIdsEqualVlmGenerateForTheSamePrompt() {
    String[] prompts = {
      "9707,11,1879,0", "151644,872,198,3838,374,279,6722,315,9625,30,151645,198,151644,77091,198"
    };
    for (String p : prompts) {
      // the server keeps bf16 K/V by default; vlm generate's reference default is f32, so ask it
      // for the same storage
      VlmRun r =
          VlmRun.of(
              "generate",
              "--model",
              TinyCheckpoints.decoderTiny().toString(),
              "--input-ids",
              p,
              "--max-new-tokens",
              "20",
              "--kv-cache-dtype",
              "bf16");
      assertEquals(0, r.code(), r.err());
      JsonArray want = JsonParser.parseString(r.lastLine()).getAsJsonObject().getAsJsonArray("ids");

      GenerateRequest.Builder req =
          GenerateRequest.newBuilder()
              .setRequestId("parity")
              .setParams(
                  GenerationParams.newBuilder()
                      .setMaxNewTokens(20)
                      .setMinNewTokens(0)
                      .setNoRepeatNgramSize(0));
      for (String id : p.split(",")) req.addInputIds(Integer.parseInt(id));
      List<Integer> got = new ArrayList<>();
      var it = DecoderServiceGrpc.newBlockingStub(channel).generate(req.build());
      while (it.hasNext()) {
        GenerateResponse m = it.next();
        if (m.hasTokens()) got.addAll(m.getTokens().getIdsList());
      }
      int[] expected = new int[want.size()];
      for (int i = 0; i < expected.length; i++) expected[i] = want.get(i).getAsInt();
      assertArrayEquals(expected, got.stream().mapToInt(Integer::intValue).toArray(), p);
    }
  }

  @Test
  void benchDecodeAgainstAServerPrintsEveryLevelAndAJsonLastLine() {
    VlmRun r =
        VlmRun.of(
            "bench",
            "decode",
            "--server",
            "localhost:" + server.port(),
            "--concurrency",
            "1,2",
            "--new-tokens",
            "4",
            "--prompt-tokens",
            "3");
    assertEquals(0, r.code(), r.err());
    String[] lines = r.out().strip().split("\n");
    assertTrue(lines[0].startsWith("concurrency 1: aggregate "), r.out());
    JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
    JsonArray levels = json.getAsJsonArray("levels");
    assertEquals(2, levels.size());
    assertEquals(2, levels.get(1).getAsJsonObject().get("concurrency").getAsInt());
    assertEquals(8, levels.get(1).getAsJsonObject().get("tokens").getAsInt());
    assertTrue(levels.get(0).getAsJsonObject().get("aggregate_tok_s").getAsDouble() > 0);
    for (var l : levels) {
      // the mean model time of a decode step: positive, and the level's 3 decode steps, one after
      // another, took no less than 3 of them
      JsonObject level = l.getAsJsonObject();
      double model = level.get("step_model_ms").getAsDouble();
      assertTrue(model > 0, level.toString());
      assertTrue(3 * model <= level.get("wall_s").getAsDouble() * 1e3, level.toString());
    }
    assertTrue(json.has("aggregate_speedup_2_vs_1"));
  }

  @Test
  void benchDecodeCanSampleAndSaysSoInItsJsonAndSamplingOptionsNeedAServer() {
    VlmRun r =
        VlmRun.of(
            "bench",
            "decode",
            "--server",
            "localhost:" + server.port(),
            "--concurrency",
            "2",
            "--new-tokens",
            "4",
            "--prompt-tokens",
            "3",
            "--temperature",
            "0.7",
            "--top-k",
            "20",
            "--top-p",
            "0.9");
    assertEquals(0, r.code(), r.err());
    JsonObject json = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    JsonObject sampling = json.getAsJsonObject("sampling");
    assertEquals(0.7f, sampling.get("temperature").getAsFloat());
    assertEquals(20, sampling.get("top_k").getAsInt());
    assertEquals(0.9f, sampling.get("top_p").getAsFloat());
    assertEquals(
        8, json.getAsJsonArray("levels").get(0).getAsJsonObject().get("tokens").getAsInt());

    VlmRun bad =
        VlmRun.of(
            "bench",
            "decode",
            "--server",
            "localhost:" + server.port(),
            "--concurrency",
            "1",
            "--new-tokens",
            "2",
            "--temperature",
            "-1");
    assertEquals(2, bad.code(), bad.out() + bad.err());
    assertTrue(bad.err().contains("temperature"), bad.err());

    VlmRun local =
        VlmRun.of(
            "bench", "decode", "--model", TinyCheckpoints.decoderTiny().toString(), "--top-k", "5");
    assertEquals(2, local.code(), local.out() + local.err());
    assertTrue(local.err().contains("go with --server"), local.err());
  }

  @Test
  void benchDecodeOnAModelPairsBatchStepsWithSingleRowStepsAndReportsTheirRatio() {
    VlmRun r =
        VlmRun.of(
            "bench",
            "decode",
            "--model",
            TinyCheckpoints.decoderTiny().toString(),
            "--batch",
            "4",
            "--new-tokens",
            "5",
            "--prompt-tokens",
            "6");
    assertEquals(0, r.code(), r.err());
    assertTrue(
        r.out().contains("batch 4: ")
            && r.out().contains("the single-row step beside it (median of 5 pairs"),
        r.out());
    JsonObject json = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(4, json.get("batch").getAsInt());
    assertTrue(json.get("batch_step_ratio").getAsDouble() > 0, r.out());
    assertEquals("java", json.get("kernel").getAsString());
    // the split of a batch step: its read and its multiply-adds with the weights in cache
    assertTrue(r.out().contains("batch 4 split: reading the weights "), r.out());
    for (String k : new String[] {"batch_step_ms", "read_ms", "batch_compute_ms"})
      assertTrue(json.get(k).getAsDouble() > 0, k + ": " + r.out());
  }

  @Test
  void benchDecodeOnAModelHoldsItsSequencesWholeUnlessGivenASmallerKvBudget() {
    String model = TinyCheckpoints.decoderTiny().toString();
    // --batch 2: three sequences (the batch's two and one for single-row steps) of up to 100
    // prompt + 8 warm-up (more than --new-tokens 4) + 1 tokens = 109: 4 blocks of 32 each
    List<String> args =
        List.of(
            "bench",
            "decode",
            "--model",
            model,
            "--batch",
            "2",
            "--prompt-tokens",
            "100",
            "--new-tokens",
            "4");
    VlmRun whole = VlmRun.of(args.toArray(String[]::new));
    assertEquals(0, whole.code(), whole.err());
    assertTrue(
        whole.out().contains("KV cache: 12 blocks of 32 tokens")
            && whole.out().contains("for 3 sequences of up to 109 tokens"),
        whole.out());

    // a budget of 4 blocks (8 KiB each for this model: 2 layers × 2 KV heads × 16 dims × K and V
    // × 2 bytes × 32 tokens) runs out while the batch is prefilled: a user error naming the option
    List<String> withBudget = new ArrayList<>(args);
    withBudget.addAll(List.of("--kv-cache-bytes", String.valueOf(4 * 8192 + 100)));
    VlmRun small = VlmRun.of(withBudget.toArray(String[]::new));
    assertEquals(2, small.code(), small.out() + small.err());
    assertTrue(small.out().contains("KV cache: 4 blocks of 32 tokens"), small.out());
    assertTrue(
        small.err().contains("out of blocks") && small.err().contains("--kv-cache-bytes"),
        small.err());

    VlmRun negative = VlmRun.of("bench", "decode", "--model", model, "--kv-cache-bytes", "-1");
    assertEquals(2, negative.code(), negative.out() + negative.err());
    assertTrue(negative.err().contains("--kv-cache-bytes must be >= 0"), negative.err());
  }

  @Test
  void helpListsEveryDecoderSettingWithItsVariableAndABadValueIsAOneLineUserError() {
    VlmRun help = VlmRun.of("serve", "decoder", "--help");
    assertEquals(0, help.code(), help.err());
    for (Setting<?> s : DecoderSettings.REGISTRY.all()) {
      String usage = help.out();
      String flag = s.type() == Boolean.class ? "--[no-]" + s.flag() : "--" + s.flag();
      assertTrue(usage.contains(flag) && usage.contains("$" + s.env()), flag + ": " + usage);
    }
    for (String more :
        List.of(
            "--prefill-tokens",
            "--keepalive-seconds",
            "$TANDEM_SHUTDOWN_GRACE_SECONDS (default 25)")) {
      assertTrue(help.out().contains(more), more + ": " + help.out());
    }
    VlmRun bad =
        VlmRun.of(
            "serve",
            "decoder",
            "--model",
            TinyCheckpoints.decoderTiny().toString(),
            "--kv-cache-bytes",
            "lots");
    assertEquals(2, bad.code());
    assertTrue(
        bad.err().startsWith("vlm: error: --kv-cache-bytes=lots: ")
            && bad.err().strip().lines().count() == 1,
        bad.err());
  }

  @Test
  void serveDecoderWithoutACheckpointIsAOneLineUserError() {
    VlmRun r = VlmRun.of("serve", "decoder", "--model", "/nonexistent/ckpt");
    assertEquals(2, r.code());
    // The wording belongs to ModelArg (folder or Hub id); what matters here is one line naming the
    // bad value.
    assertTrue(
        r.err().startsWith("vlm: error: ")
            && r.err().contains("/nonexistent/ckpt")
            && r.err().strip().lines().count() == 1,
        r.err());
    r = VlmRun.of("bench", "decode", "--server", "localhost:1", "--concurrency", "0");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--concurrency"), r.err());
  }
}
