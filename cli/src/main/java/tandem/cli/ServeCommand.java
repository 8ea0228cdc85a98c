package tandem.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.hub.ModelResolver;
import tandem.common.telemetry.Telemetry;

/**
 * {@code vlm serve}: without a subcommand, gateway + vision-svc + decoder-svc in one process (in-process channels,
 * one public port); {@code vlm serve gateway|vision|decoder} runs one service of the split deployment.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Run Tandem. Without a subcommand: all three services in one process behind one port (the laptop default).",
      "With a subcommand: one service of the split deployment."
    },
    subcommands = {ServeDecoderCommand.class, ServeGatewayCommand.class, ServeVisionCommand.class},
    modelTransformer = ServeCommand.Flags.class)
public final class ServeCommand implements Callable<Integer> {
  /** The network and security flags. */
  static final class Flags implements picocli.CommandLine.IModelTransformer {
    @Override
    public picocli.CommandLine.Model.CommandSpec transform(picocli.CommandLine.Model.CommandSpec spec) {
      return SettingOptions.addTo(spec, ConnectionOptions.REGISTRY);
    }
  }

  @Option(names = "--model", description = "Checkpoint folder or Hugging Face repo id (default: $TANDEM_MODEL).")
  String model;

  @Option(names = "--port", description = "Public Chat port; 0 picks a free one (default: $TANDEM_PORT or " + ServiceDefaults.GATEWAY_PORT + ").")
  Integer port;

  @Option(names = "--http-port", description = "HTTP port of the OpenAI-compatible API and the web playground; 0 picks a free one, -1 turns it off (default: $TANDEM_HTTP_PORT or " + ServiceDefaults.HTTP_PORT + "; off when the Chat port serves TLS and neither is set).")
  Integer httpPort;

  @Option(names = "--device", description = "cpu or cuda (default: $TANDEM_DEVICE or cpu).")
  String device;

  @Option(names = "--trace-log", description = "Print every finished trace as an indented tree with durations on stderr.")
  boolean traceLog;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Override
  public Integer call() throws Exception {
    Env env = connections.env();
    String m = model != null ? model : env.string(ServiceDefaults.ENV_MODEL, "");
    if (m.isEmpty()) throw new UserError("give --model DIR (or a Hugging Face repo id) or set " + ServiceDefaults.ENV_MODEL);
    Path dir = resolveModel(m);
    int p = port != null ? port : env.integer(ServiceDefaults.ENV_PORT, ServiceDefaults.GATEWAY_PORT);
    int metricsPort = env.integer(ServiceDefaults.ENV_METRICS_PORT, 0);
    tandem.common.security.TlsSettings tls = tandem.common.security.TlsSettings.serverFromEnv(env);
    tandem.gateway.http.HttpSettings http = httpSettings(env, tls.enabled());
    Telemetry telemetry = Telemetry.fromEnv("tandem", System.getenv(), metricsPort, traceLog ? System.err : null);
    AllInOne server;
    try {
      server = AllInOne.start(dir, device, System.getenv(),
          tandem.common.grpc.ServerBootstrap.withConnectionLimits(io.grpc.Grpc.newServerBuilderForPort(p,
              tls.serverCredentials().credentials()), env),
          telemetry, AllInOne.DEFAULT_DECODER_MODEL, http);
    } catch (java.io.IOException e) {
      telemetry.close();
      if (e.getMessage() != null && e.getMessage().startsWith("cannot open the HTTP port")) {
        throw new UserError(e.getMessage() + " (choose another with --http-port, or -1 to turn it off)");
      }
      throw e;
    }
    try {
      server.serveHealthOnlyFromEnv(env);
    } catch (java.io.IOException | IllegalArgumentException e) {
      server.close();
      telemetry.close();
      throw new UserError(e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      telemetry.close();
    }, "serve-shutdown"));
    System.err.println("tandem: serving Chat on port " + server.port() + " (model " + dir + ", all-in-one)"
        + (server.httpPort() > 0 ? "; OpenAI-compatible API and playground on http://localhost:" + server.httpPort() + "/" : ""));
    server.awaitTermination();
    return 0;
  }

  /**
   * The HTTP front door's settings: --http-port, else TANDEM_HTTP_PORT, else the default port, except that with TLS on
   * the Chat port a plain HTTP port opens only when asked for explicitly (null = none).
   */
  tandem.gateway.http.HttpSettings httpSettings(Env env, boolean tls) {
    boolean explicit = httpPort != null || !env.string(ServiceDefaults.ENV_HTTP_PORT, "").isEmpty();
    if (tls && !explicit) {
      System.err.println("tandem: the Chat port serves TLS, so the plain-HTTP port (OpenAI API, playground) stays off; "
          + "set --http-port or " + ServiceDefaults.ENV_HTTP_PORT + " to open it behind your own TLS");
      return null;
    }
    if (tls) {
      System.err.println("tandem: warning: the HTTP port serves plain HTTP next to the TLS Chat port; put it behind a "
          + "TLS-terminating proxy, bearer tokens travel in its requests");
    }
    try {
      return tandem.gateway.http.HttpSettings.fromEnv(env, ServiceDefaults.HTTP_PORT, httpPort);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** A local folder is used as is; anything else is taken as a Hugging Face repo id (downloaded or cached). */
  static Path resolveModel(String m) {
    try {
      return ModelResolver.resolve(m);
    } catch (IllegalArgumentException e) {
      throw new UserError("--model: " + e.getMessage());
    }
  }
}
