package tandem.cli;

import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.cli.bench.ChatBench;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.decoder.model.ComputeThreads;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.gateway.GatewayServer;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.ImageExpansion;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Role;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.GatewayModel;

/**
 * {@code vlm bench chat}: TTFT and tokens/s through the gateway next to decoder-svc straight. With
 * {@code --server} and {@code --decoder} it measures running services; with only {@code --model} it
 * starts decoder-svc and the gateway in this process on loopback ports (the split deployment's
 * network hops, one machine).
 */
@Command(
    name = "chat",
    mixinStandardHelpOptions = true,
    description = "Gateway vs decoder-svc TTFT and tok/s; last line one JSON object.")
public final class BenchChatCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--server", description = "Gateway host:port (needs --decoder too).")
  String server;

  @Option(names = "--decoder", description = "decoder-svc host:port behind that gateway.")
  String decoder;

  /** TLS and token for --server and --decoder (the same options go to both channels). */
  @picocli.CommandLine.Mixin ClientOptions client = new ClientOptions();

  @Option(
      names = "--model",
      required = true,
      description =
          "Checkpoint folder (tokenizer and template; with no --server also the model to serve).")
  Path model;

  @Option(
      names = "--concurrency",
      split = ",",
      defaultValue = "1,4",
      description = "Concurrent streams per level (default ${DEFAULT-VALUE}).")
  int[] concurrency;

  @Option(
      names = "--new-tokens",
      defaultValue = "64",
      description = "Tokens generated per stream (default ${DEFAULT-VALUE}).")
  int newTokens;

  @Option(
      names = "--prompt-words",
      defaultValue = "40",
      description = "Words in the user message (default ${DEFAULT-VALUE}).")
  int promptWords;

  @Override
  public Integer call() throws Exception {
    if (!Files.isDirectory(model)) throw new UserError("--model " + model + " is not a folder");
    if ((server == null) != (decoder == null))
      throw new UserError("give both --server and --decoder, or neither");
    if (server == null)
      client.rejectAll("--server and --decoder (without them both services run in this process)");
    if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
    for (int c : concurrency)
      if (c < 1) throw new UserError("--concurrency levels must be >= 1, got " + c);
    String text =
        "Tandem benchmark: please describe the weather today. "
            .repeat(Math.max(1, promptWords / 7));
    int[] ids;
    try (GatewayModel gm = GatewayModel.load(model)) {
      var segments = ChatTemplate.render(List.of(Message.ofString(Role.USER, text)), true, false);
      ids = gm.tokenizer().encode(ImageExpansion.expand(segments, List.of(), gm.imageSeqLen()));
    }
    ChatBench.Prompt prompt = new ChatBench.Prompt(text, ids);
    var out = spec.commandLine().getOut();
    if (server != null) {
      runBench(server, decoder, prompt, out);
      return 0;
    }
    int maxBatch = 0;
    for (int c : concurrency) maxBatch = Math.max(maxBatch, c);
    Env env = Env.system();
    DecoderServerConfig base =
        DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(System.getenv()));
    DecoderServerConfig cfg =
        new DecoderServerConfig(
            model,
            base.device(),
            base.dtype(),
            0,
            maxBatch,
            ids.length + newTokens + 8,
            base.maxQueue(),
            base.maxMessageBytes(),
            base.prefillTokens(),
            base.waitingServedRatio(),
            base.batchWaitMillis(),
            base.threads(),
            base.weights(),
            base.kvCacheBytes(),
            base.kvCacheDtype(),
            base.prefixCache(),
            base.kvPreallocate(),
            base.gpuMemoryFraction());
    if (base.threads() > 0) ComputeThreads.set(base.threads());
    try (DecoderServer dec =
        DecoderServer.start(
            Qwen3ForCausalLM.load(model, cfg.options()),
            DecoderServer.ModelInfo.fromDir(model),
            cfg,
            ServerHost.inProcess(NettyServerBuilder.forPort(0)))) {
      String decAddr = "localhost:" + dec.port();
      // Text-only chats never call vision-svc, so none is started; its address is a closed loopback
      // port.
      GatewayServer.Config gc =
          new GatewayServer.Config(model, "localhost:1", decAddr, 0, cfg.maxMessageBytes())
              .withLimits(GatewayLimits.from(GatewaySettings.resolve(env)));
      GatewayServer gw =
          GatewayServer.start(gc, GatewayServer.publicHost(0, env, Telemetry.noop()), env);
      try {
        out.println(
            "started decoder-svc on "
                + decAddr
                + " and the gateway on localhost:"
                + gw.port()
                + " (this process)");
        runBench("localhost:" + gw.port(), decAddr, prompt, out);
      } finally {
        gw.close();
      }
    }
    return 0;
  }

  private void runBench(String gw, String dec, ChatBench.Prompt prompt, java.io.PrintWriter out)
      throws InterruptedException {
    try {
      ChatBench.run(client, gw, dec, prompt, concurrency, newTokens, out);
    } catch (IllegalStateException e) {
      throw new UserError(e.getMessage());
    }
  }
}
