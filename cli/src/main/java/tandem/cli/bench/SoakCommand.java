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
import tandem.common.config.ServiceDefaults;
import tandem.common.telemetry.Telemetry;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * {@code vlm bench soak}: sustained Chat load against a running gateway ({@code --server}) or an all-in-one server
 * started in this process on a loopback port ({@code --model}); see {@link Soak}. Exit 0 when the targets hold (no
 * unexpected errors, RSS end within 10% of middle), 1 otherwise.
 */
@Command(
    name = "soak",
    mixinStandardHelpOptions = true,
    description = "Sustained Chat load: requests, errors by status, p50/p99 TTFT, heap/RSS at start, middle, end.")
public final class SoakCommand implements Callable<Integer> {
  @Option(names = "--server", description = "gateway host:port")
  String server;

  @Option(names = "--model", description = "checkpoint folder: serve it in this process on 127.0.0.1 instead")
  Path model;

  @Option(names = "--concurrency", defaultValue = "32", description = "concurrent clients (default ${DEFAULT-VALUE})")
  int concurrency;

  @Option(names = "--minutes", defaultValue = "10", description = "duration, minutes (default ${DEFAULT-VALUE})")
  double minutes;

  @Option(names = "--new-tokens", defaultValue = "16", description = "max new tokens per chat (default ${DEFAULT-VALUE})")
  int newTokens;

  @Option(names = "--server-pid", defaultValue = "-1", description = "pid of the server process, for its RSS (with --server)")
  long serverPid;

  /** TLS for --server; the bearer token for either (an embedded server reads TANDEM_AUTH_TOKENS* too). */
  @Mixin ClientOptions client = new ClientOptions();

  @Override
  public Integer call() throws Exception {
    if ((server == null) == (model == null)) throw new UserError("give exactly one of --server ADDR or --model DIR");
    if (concurrency < 1 || concurrency > 4096) throw new UserError("--concurrency must be 1..4096, got " + concurrency);
    if (!(minutes > 0)) throw new UserError("--minutes must be positive, got " + minutes);
    if (newTokens < 1) throw new UserError("--new-tokens must be at least 1, got " + newTokens);
    AllInOne embedded = null;
    String target = server;
    if (model != null) {
      client.rejectTls("--server (the embedded server listens in plaintext on 127.0.0.1)");
      Map<String, String> env = new HashMap<>(System.getenv());
      env.putIfAbsent(ServiceDefaults.ENV_DECODER_MAX_BATCH, "8");
      env.putIfAbsent(ServiceDefaults.ENV_DECODER_MAX_SEQ_LEN, "512");
      env.putIfAbsent(ServiceDefaults.ENV_DECODER_MAX_QUEUE, String.valueOf(Math.max(64, concurrency)));
      // every soak client is the same local peer: per-client limits would refuse most of them
      env.putIfAbsent(ServiceDefaults.ENV_GATEWAY_MAX_STREAMS_PER_CLIENT, "0");
      env.putIfAbsent(ServiceDefaults.ENV_GATEWAY_RATE_PER_SECOND, "0");
      embedded = AllInOne.start(model, "cpu", env, NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
          Telemetry.noop());
      target = "127.0.0.1:" + embedded.port();
      System.err.println("soak: serving " + model + " in this process on " + target);
    } else if (serverPid < 0) {
      System.err.println("soak: no --server-pid; RSS shown is this client's, not the server's");
    }
    ManagedChannel ch = client.open(target);
    try {
      Soak.Report r = Soak.run(ChatServiceGrpc.newStub(ch), concurrency, (long) (minutes * 60_000), newTokens,
          model != null ? -1 : serverPid, System.err);
      Soak.print(r, System.out, model != null);
      return r.unexpectedErrors() == 0 && !(r.rssEndOverMiddle() > 1.10) ? 0 : 1;
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      if (embedded != null) embedded.close();
    }
  }
}
