package tandem.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.IModelTransformer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import tandem.common.config.Env;
import tandem.common.config.SettingValues;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.GatewayServer;
import tandem.gateway.config.GatewaySettings;

/**
 * {@code vlm serve gateway}: the gateway alone, talking to vision-svc and decoder-svc over the
 * network. Its options are {@link GatewaySettings}' (each with its variable), plus the connection
 * flags every server takes.
 */
@Command(
    name = "gateway",
    mixinStandardHelpOptions = true,
    description = "Serve the public Chat API; needs vision-svc and decoder-svc addresses.",
    modelTransformer = ServeGatewayCommand.Options.class)
public final class ServeGatewayCommand implements Callable<Integer> {
  /** One option per gateway setting. */
  static final class Options implements IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return ConnectionOptions.serveOptions(spec, GatewaySettings.REGISTRY);
    }
  }

  @Spec CommandSpec spec;

  @Mixin ConnectionOptions connections = new ConnectionOptions();

  @Override
  public Integer call() throws Exception {
    Map<String, String> vars = connections.overlay(System.getenv());
    SettingValues settings = SettingOptions.resolve(spec, GatewaySettings.REGISTRY, vars);
    String m = settings.get(GatewaySettings.MODEL);
    if (m == null) throw new UserError("give --model DIR or set " + GatewaySettings.MODEL.env());
    Path dir = ModelArg.resolve(m);
    if (!Files.isDirectory(dir)) throw new UserError("--model " + dir + " is not a folder");
    Env env = new Env(vars);
    GatewayServer.Config c;
    try {
      c = GatewayServer.Config.from(settings).withModel(dir);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Telemetry telemetry = GatewayServer.telemetry(settings.get(GatewaySettings.METRICS_PORT));
    GatewayServer s;
    try {
      s = GatewayServer.start(c, GatewayServer.publicHost(c.port(), env, telemetry), env);
    } catch (IllegalStateException | IllegalArgumentException | IOException e) {
      telemetry.close();
      throw new UserError(e.getMessage());
    }
    // the server logs what it serves and where; it borrows the telemetry, closed after it
    ServerHost.closeOnShutdown(s::close, telemetry, "gateway-shutdown");
    s.awaitTermination();
    return 0;
  }
}
