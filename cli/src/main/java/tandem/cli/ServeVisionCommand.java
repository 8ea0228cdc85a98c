package tandem.cli;

import java.nio.file.Files;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import tandem.common.config.CommonSettings;
import tandem.common.config.SettingValues;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;
import tandem.vision.config.VisionSettings;

/**
 * {@code vlm serve vision}: vision-svc in this process. Its flags are {@link VisionSettings}'s,
 * each with its environment variable (docs/vision-svc.md); a flag wins over the variable.
 */
@Command(
    name = "vision",
    mixinStandardHelpOptions = true,
    modelTransformer = ServeVisionCommand.Flags.class)
public final class ServeVisionCommand implements Callable<Integer> {
  /** The description, and an option per vision-svc setting. */
  public static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      spec.usageMessage()
          .description(
              "Serve vision-svc (image bytes in, connector embeddings out).",
              "On SIGTERM it drains: health NOT_SERVING, new calls UNAVAILABLE, calls in flight"
                  + " finish within $"
                  + CommonSettings.SHUTDOWN_GRACE_SECONDS.env()
                  + " (default "
                  + CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultText()
                  + ").");
      return ConnectionOptions.serveOptions(spec, VisionSettings.REGISTRY);
    }
  }

  @Spec CommandSpec spec;

  @picocli.CommandLine.Mixin ConnectionOptions connections = new ConnectionOptions();

  @Override
  public Integer call() throws Exception {
    SettingValues values = SettingOptions.resolve(spec, VisionSettings.REGISTRY, System.getenv());
    String model = values.get(VisionSettings.MODEL);
    VisionServerConfig s;
    try {
      s = VisionServerConfig.from(values, model == null ? null : ModelArg.resolve(model));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    if (!Files.isRegularFile(s.model().resolve("config.json")))
      throw new UserError("--model " + s.model() + " has no config.json");
    Telemetry telemetry =
        Telemetry.fromEnv(
            "tandem-vision", System.getenv(), values.get(VisionSettings.METRICS_PORT), null);
    VisionServer server;
    try {
      // TANDEM_TLS_* on the port, TANDEM_HEALTH_PORT for probes (docs/security.md)
      server = VisionServer.start(s, ServerHost.internal(s.port(), connections.env(), telemetry));
    } catch (java.io.IOException | IllegalArgumentException e) {
      telemetry.close();
      throw new UserError("cannot start vision-svc: " + e.getMessage());
    }
    ServerHost.closeOnShutdown(server::close, telemetry, "vision-svc-shutdown");
    var out = spec.commandLine().getOut();
    out.println(
        "vision-svc listening on port "
            + server.port()
            + " (model "
            + server.embedder().modelId()
            + ", device "
            + server.tower().device()
            + ")");
    out.flush();
    server.awaitTermination();
    return 0;
  }
}
