package tandem.cli.bench;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tandem.cli.AllInOne;
import tandem.cli.ClientOptions;
import tandem.cli.UserError;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderSettings;
import tandem.gateway.config.GatewaySettings;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * {@code vlm bench soak}: sustained Chat load against a running gateway ({@code --server}) or an
 * all-in-one server started in this process on a loopback port ({@code --model}); see {@link Soak}.
 * Exit 0 when the targets hold (no unexpected errors, RSS end within 10% of middle), 1 otherwise.
 */
@Command(
    name = "soak",
    mixinStandardHelpOptions = true,
    description =
        "Sustained Chat load: requests, errors by status, p50/p99 TTFT, heap/RSS at start, middle,"
            + " end.")
public final class SoakCommand implements Callable<Integer> {
  @Option(names = "--server", description = "gateway host:port")
  String server;

  @Option(
      names = "--model",
      description = "checkpoint folder: serve it in this process on 127.0.0.1 instead")
  Path model;

  @Option(
      names = "--concurrency",
      defaultValue = "32",
      description = "concurrent clients (default ${DEFAULT-VALUE})")
  int concurrency;

  @Option(
      names = "--minutes",
      defaultValue = "10",
      description = "duration, minutes (default ${DEFAULT-VALUE})")
  double minutes;

  @Option(
      names = "--new-tokens",
      defaultValue = "16",
      description = "max new tokens per chat (default ${DEFAULT-VALUE})")
  int newTokens;

  @Option(
      names = "--server-pid",
      defaultValue = "-1",
      description = "pid of the server process, for its RSS (with --server)")
  long serverPid;

  @Option(
      names = "--images",
      defaultValue = "0",
      description = "fraction of chats that send an image (default ${DEFAULT-VALUE})")
  double images;

  @Option(
      names = "--cancels",
      defaultValue = "0",
      description = "fraction of chats the client cancels at a random moment")
  double cancels;

  @Option(
      names = "--disconnects",
      defaultValue = "0",
      description = "fraction of chats whose connection the client drops mid-stream")
  double disconnects;

  @Option(
      names = "--slow-readers",
      defaultValue = "0",
      description = "fraction of chats read one chunk per --slow-read-ms")
  double slowReaders;

  @Option(
      names = "--slow-read-ms",
      defaultValue = "200",
      description = "a slow reader's pause per chunk (default ${DEFAULT-VALUE})")
  long slowReadMs;

  @Option(
      names = "--restart-every",
      defaultValue = "-1",
      description =
          "with --model: restart a backend (decoder-svc, vision-svc in turn) every this many"
              + " seconds; 0 = never (default: 60 with --mix, else never)")
  double restartEvery;

  @Option(
      names = "--mix",
      description =
          "the hostile mix in one flag: images 0.3, cancels 0.1, disconnects 0.05, slow readers"
              + " 0.05, and with --model a backend restart every 60 s (explicit flags win)")
  boolean hostileMix;

  /**
   * TLS for --server; the bearer token for either (an embedded server reads TANDEM_AUTH_TOKENS*
   * too).
   */
  @Mixin ClientOptions client = new ClientOptions();

  @Override
  public Integer call() throws Exception {
    if ((server == null) == (model == null))
      throw new UserError("give exactly one of --server ADDR or --model DIR");
    if (concurrency < 1 || concurrency > 4096)
      throw new UserError("--concurrency must be 1..4096, got " + concurrency);
    if (!(minutes > 0)) throw new UserError("--minutes must be positive, got " + minutes);
    if (newTokens < 1) throw new UserError("--new-tokens must be at least 1, got " + newTokens);
    if (hostileMix) {
      if (images == 0) images = 0.3;
      if (cancels == 0) cancels = 0.1;
      if (disconnects == 0) disconnects = 0.05;
      if (slowReaders == 0) slowReaders = 0.05;
      if (restartEvery < 0 && model != null) restartEvery = 60;
    }
    if (restartEvery < 0) restartEvery = 0;
    if (restartEvery > 0 && model == null) {
      throw new UserError(
          "--restart-every needs --model (restart the backends of a remote server from outside)");
    }
    Soak.Mix mix;
    try {
      mix = new Soak.Mix(images, cancels, disconnects, slowReaders, slowReadMs, restartEvery);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    AllInOne embedded = null;
    String target = server;
    if (model != null) {
      client.rejectTls("--server (the embedded server listens in plaintext on 127.0.0.1)");
      Map<String, String> env = new HashMap<>(System.getenv());
      env.putIfAbsent(DecoderSettings.MAX_BATCH.env(), "8");
      // an image of the mix is up to 7 tiles (448 image tokens) on the tiny preset: its prompt must
      // fit a KV slot
      env.putIfAbsent(DecoderSettings.MAX_SEQ_LEN.env(), mix.images() > 0 ? "2048" : "512");
      env.putIfAbsent(DecoderSettings.MAX_QUEUE.env(), String.valueOf(Math.max(64, concurrency)));
      // every soak client is the same local peer: per-client limits would refuse most of them
      env.putIfAbsent(GatewaySettings.MAX_STREAMS_PER_CLIENT.env(), "0");
      env.putIfAbsent(GatewaySettings.RATE_PER_SECOND.env(), "0");
      embedded =
          AllInOne.start(
              model,
              "cpu",
              env,
              NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
              Telemetry.noop());
      target = "127.0.0.1:" + embedded.port();
      System.err.println("soak: serving " + model + " in this process on " + target);
    } else if (serverPid < 0) {
      System.err.println("soak: no --server-pid; RSS shown is this client's, not the server's");
    }
    ManagedChannel ch = client.open(target);
    final String dial = target;
    final AllInOne local = embedded;
    Soak.Target hooks =
        new Soak.Target() {
          private int restarts;

          @Override
          public ManagedChannel freshChannel() {
            return client.open(dial);
          }

          @Override
          public boolean restartBackend() throws Exception {
            if (local == null) return false;
            if (restarts++ % 2 == 0) local.restartDecoder();
            else local.restartVision();
            return true;
          }

          @Override
          public Map<String, Long> gauges() {
            if (local == null) return Map.of();
            var d = local.decoder().metrics();
            return Map.of(
                "gateway open streams", (long) local.openStreams(),
                "decoder active sequences", (long) d.activeSequences(),
                "decoder queued", (long) d.queuedRequests(),
                "vision queued tiles", (long) local.vision().batcher().queuedTiles(),
                "vision in-flight images", (long) local.vision().embedder().cache().inFlight());
          }
        };
    try {
      Soak.Report r =
          Soak.run(
              ChatServiceGrpc.newStub(ch),
              concurrency,
              (long) (minutes * 60_000),
              newTokens,
              model != null ? -1 : serverPid,
              System.err,
              mix,
              hooks);
      Soak.print(r, System.out, model != null);
      return r.unexpectedErrors() == 0 && !(r.rssEndOverMiddle() > 1.10) && r.leftOver() == 0
          ? 0
          : 1;
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      if (embedded != null) embedded.close();
    }
  }
}
