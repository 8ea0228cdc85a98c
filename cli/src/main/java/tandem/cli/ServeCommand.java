package tandem.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.common.config.SettingValues;
import tandem.common.grpc.ServerHost;
import tandem.common.hub.ModelResolver;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.config.GatewaySettings;

/**
 * {@code vlm serve}: without a subcommand, gateway + vision-svc + decoder-svc in one process
 * (in-process channels, one public port); {@code vlm serve gateway|vision|decoder} runs one service
 * of the split deployment.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Run Tandem. Without a subcommand: all three services in one process behind one port (the"
          + " laptop default).",
      "With a subcommand: one service of the split deployment."
    },
    subcommands = {ServeDecoderCommand.class, ServeGatewayCommand.class, ServeVisionCommand.class},
    modelTransformer = ServeCommand.Flags.class)
public final class ServeCommand implements Callable<Integer> {
  /** The public Chat port of the all-in-one server. */
  static final Setting<Integer> PORT =
      Setting.integer(
          "port",
          "TANDEM_PORT",
          ServiceDefaults.GATEWAY_PORT,
          0,
          65535,
          "Public Chat port; 0 picks a free one.");

  /**
   * vlm serve's own settings; each service's others (docs/decoder-svc.md, vision-svc.md,
   * gateway.md) are read from the environment, and the network and security ones are flags too
   * ({@link ConnectionOptions}).
   */
  /** The gateway's HTTP port, whose default here is {@link ServiceDefaults#HTTP_PORT}. */
  static final Setting<Integer> HTTP_PORT =
      GatewaySettings.HTTP_PORT.withDefaultText(
          ServiceDefaults.HTTP_PORT
              + "; off when the Chat port serves TLS and neither the flag nor the variable is set");

  static final SettingRegistry REGISTRY =
      new SettingRegistry(
          "vlm serve",
          List.of(
              CommonSettings.MODEL,
              PORT,
              HTTP_PORT,
              CommonSettings.DEVICE,
              CommonSettings.METRICS_PORT));

  /** The options: {@link #REGISTRY}'s, then the network and security flags. */
  static final class Flags implements picocli.CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return ConnectionOptions.serveOptions(spec, REGISTRY);
    }
  }

  @Spec CommandSpec spec;

  /** --http-port when given: an explicit port opens even next to a TLS Chat port. */
  Integer httpPort;

  @Option(
      names = "--trace-log",
      description = "Print every finished trace as an indented tree with durations on stderr.")
  boolean traceLog;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Override
  public Integer call() throws Exception {
    Env env = connections.env();
    Map<String, String> flags = SettingOptions.given(spec.commandLine().getParseResult(), REGISTRY);
    SettingValues v = SettingOptions.resolve(flags, REGISTRY, System.getenv());
    httpPort = flags.containsKey(HTTP_PORT.flag()) ? v.get(HTTP_PORT) : null;
    String m = v.get(CommonSettings.MODEL);
    if (m == null)
      throw new UserError(
          "give --model DIR (or a Hugging Face repo id) or set " + CommonSettings.MODEL.env());
    Path dir = resolveModel(m);
    int p = v.get(PORT);
    int metricsPort = v.get(CommonSettings.METRICS_PORT);
    String device = v.get(CommonSettings.DEVICE);
    tandem.common.security.TlsSettings tls = tandem.common.security.TlsSettings.serverFromEnv(env);
    tandem.gateway.http.HttpSettings http = httpSettings(env, tls.enabled());
    Telemetry telemetry =
        Telemetry.fromEnv("tandem", System.getenv(), metricsPort, traceLog ? System.err : null);
    AllInOne server;
    try {
      server =
          AllInOne.start(
              dir,
              device,
              System.getenv(),
              tandem.common.grpc.ServerBootstrap.withConnectionLimits(
                  io.grpc.Grpc.newServerBuilderForPort(p, tls.serverCredentials().credentials()),
                  env),
              telemetry,
              AllInOne.DEFAULT_DECODER_MODEL,
              http);
    } catch (java.io.IOException e) {
      telemetry.close();
      if (e.getMessage() != null && e.getMessage().startsWith("cannot open the HTTP port")) {
        throw new UserError(
            e.getMessage() + " (choose another with --http-port, or -1 to turn it off)");
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
    ServerHost.closeOnShutdown(server::close, telemetry, "serve-shutdown");
    System.err.println(
        "tandem: serving Chat on port "
            + server.port()
            + " (model "
            + dir
            + ", all-in-one)"
            + (server.httpPort() > 0
                ? "; OpenAI-compatible API and playground on http://localhost:"
                    + server.httpPort()
                    + "/"
                : ""));
    server.awaitTermination();
    return 0;
  }

  /**
   * The HTTP front door's settings: --http-port, else TANDEM_HTTP_PORT, else the default port,
   * except that with TLS on the Chat port a plain HTTP port opens only when asked for explicitly
   * (null = none).
   */
  tandem.gateway.http.HttpSettings httpSettings(Env env, boolean tls) {
    boolean explicit =
        httpPort != null || !env.string(GatewaySettings.HTTP_PORT.env(), "").isEmpty();
    if (tls && !explicit) {
      System.err.println(
          "tandem: the Chat port serves TLS, so the plain-HTTP port (OpenAI API, playground) stays"
              + " off; set --http-port or "
              + GatewaySettings.HTTP_PORT.env()
              + " to open it behind your own TLS");
      return null;
    }
    if (tls) {
      System.err.println(
          "tandem: warning: the HTTP port serves plain HTTP next to the TLS Chat port; put it"
              + " behind a TLS-terminating proxy, bearer tokens travel in its requests");
    }
    try {
      return tandem.gateway.http.HttpSettings.from(
          GatewaySettings.resolve(env), ServiceDefaults.HTTP_PORT, httpPort);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  /**
   * A local folder is used as is; anything else is taken as a Hugging Face repo id (downloaded or
   * cached).
   */
  static Path resolveModel(String m) {
    try {
      return ModelResolver.resolve(m);
    } catch (IllegalArgumentException e) {
      throw new UserError("--model: " + e.getMessage());
    }
  }
}
