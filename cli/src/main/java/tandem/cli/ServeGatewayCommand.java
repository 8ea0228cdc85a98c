package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.gateway.GatewayServer;

/** {@code vlm serve gateway}: the gateway alone, talking to vision-svc and decoder-svc over the network. */
@Command(
    name = "gateway",
    mixinStandardHelpOptions = true,
    description = "Serve the public Chat API; needs vision-svc and decoder-svc addresses.")
public final class ServeGatewayCommand implements Callable<Integer> {
  @Option(names = "--model", description = "Checkpoint folder or Hub repo id org/name[@rev]: tokenizer, chat template, processor config (default: $TANDEM_MODEL).")
  Path model;

  @Option(names = "--vision", description = "vision-svc host:port, or a comma-separated list; a name is re-resolved and each of its addresses is a replica (default: $TANDEM_VISION_ADDR or localhost:" + ServiceDefaults.VISION_PORT + ").")
  String vision;

  @Option(names = "--decoder", description = "decoder-svc host:port, or a comma-separated list, as --vision (default: $TANDEM_DECODER_ADDR or localhost:" + ServiceDefaults.DECODER_PORT + ").")
  String decoder;

  @Option(names = "--port", description = "Port to listen on (default: $TANDEM_PORT or " + ServiceDefaults.GATEWAY_PORT + ").")
  Integer port;

  @Option(names = "--resolve-seconds", description = "How often backend names are looked up again and failed replicas retried (env " + ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS + ", default " + ServiceDefaults.DEFAULT_GATEWAY_RESOLVE_SECONDS + ").")
  Integer resolveSeconds;

  @Option(names = "--decoder-load-factor", description = "Bounded-load factor of decoder placement, >= 1 (env " + ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR + ", default " + ServiceDefaults.DEFAULT_GATEWAY_DECODER_LOAD_FACTOR + ").")
  String decoderLoadFactor;

  @Option(names = "--load-report-seconds", description = "Seconds a decoder's load report counts in placement (env " + ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS + ", default " + ServiceDefaults.DEFAULT_GATEWAY_LOAD_REPORT_SECONDS + ").")
  Integer loadReportSeconds;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Option(names = "--http-port", description = "HTTP port of the OpenAI-compatible API and the web playground; 0 picks a free one, -1 = off (default: $TANDEM_HTTP_PORT, else off).")
  Integer httpPort;

  @Override
  public Integer call() throws Exception {
    java.util.Map<String, String> vars = connections.overlay(System.getenv());
    ConnectionOptions.put(vars, ServiceDefaults.ENV_GATEWAY_RESOLVE_SECONDS, resolveSeconds);
    ConnectionOptions.put(vars, ServiceDefaults.ENV_GATEWAY_DECODER_LOAD_FACTOR, decoderLoadFactor);
    ConnectionOptions.put(vars, ServiceDefaults.ENV_GATEWAY_LOAD_REPORT_SECONDS, loadReportSeconds);
    Env env = new Env(vars);
    String m = model != null ? model.toString() : env.string(ServiceDefaults.ENV_MODEL, "");
    if (m.isEmpty()) throw new UserError("give --model DIR or set " + ServiceDefaults.ENV_MODEL);
    m = ModelArg.resolve(m).toString();
    if (!Files.isDirectory(Path.of(m))) throw new UserError("--model " + m + " is not a folder");
    GatewayServer.Config c =
        new GatewayServer.Config(
            Path.of(m),
            vision != null ? vision : env.string(ServiceDefaults.ENV_VISION_ADDR, "localhost:" + ServiceDefaults.VISION_PORT),
            decoder != null ? decoder : env.string(ServiceDefaults.ENV_DECODER_ADDR, "localhost:" + ServiceDefaults.DECODER_PORT),
            port != null ? port : env.integer(ServiceDefaults.ENV_PORT, ServiceDefaults.GATEWAY_PORT),
            env.integer(ServiceDefaults.ENV_MAX_MESSAGE_BYTES, ServiceDefaults.DEFAULT_MAX_MESSAGE_BYTES),
            httpPort != null ? httpPort : env.integer(ServiceDefaults.ENV_HTTP_PORT, -1));
    GatewayServer s;
    try {
      s = GatewayServer.start(c, GatewayServer.telemetryFromEnv(env), env);
    } catch (IllegalStateException | IllegalArgumentException | java.io.IOException e) {
      throw new UserError(e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(s::close, "gateway-shutdown"));
    System.err.println("gateway: serving Chat on port " + s.port() + " (vision " + c.visionAddr() + ", decoder " + c.decoderAddr() + ")"
        + (s.httpPort() > 0 ? "; OpenAI-compatible API and playground on port " + s.httpPort() : ""));
    s.awaitTermination();
    return 0;
  }
}
