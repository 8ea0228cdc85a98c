package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.IModelTransformer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import tandem.common.config.CommonSettings;
import tandem.common.config.SettingValues;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;

/**
 * {@code vlm serve decoder}: decoder-svc alone. Its options are {@link DecoderSettings}'s, each
 * flag over its environment variable (docs/decoder-svc.md), plus the connection flags every server
 * takes.
 */
@Command(
    name = "decoder",
    mixinStandardHelpOptions = true,
    modelTransformer = ServeDecoderCommand.Settings.class,
    description =
        "Serve DecoderService.Generate (Qwen3 with KV cache and continuous batching) for one"
            + " checkpoint.")
public final class ServeDecoderCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ConnectionOptions connections = new ConnectionOptions();

  /** decoder-svc's settings as this command's options, and how it drains. */
  public static final class Settings implements IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      List<String> description = new ArrayList<>(List.of(spec.usageMessage().description()));
      description.add(
          "On SIGTERM it drains: health NOT_SERVING, new calls UNAVAILABLE, streams in flight"
              + " finish within $"
              + CommonSettings.SHUTDOWN_GRACE_SECONDS.env()
              + " (default "
              + CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultValue()
              + ").");
      spec.usageMessage().description(description.toArray(String[]::new));
      return ConnectionOptions.serveOptions(spec, DecoderSettings.REGISTRY);
    }
  }

  @Override
  public Integer call() throws Exception {
    SettingValues values = SettingOptions.resolve(spec, DecoderSettings.REGISTRY, System.getenv());
    String model = values.get(CommonSettings.MODEL);
    if (model == null) throw new UserError("give --model DIR or set " + CommonSettings.MODEL.env());
    Path m = ModelArg.resolve(model);
    if (!Files.isRegularFile(m.resolve("config.json"))) {
      throw new UserError("--model " + m + " is not a checkpoint folder (no config.json)");
    }
    DecoderServerConfig c;
    try {
      c = DecoderServerConfig.from(values).withModel(m);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    Telemetry telemetry =
        Telemetry.fromEnv(
            "tandem-decoder", System.getenv(), values.get(CommonSettings.METRICS_PORT), null);
    DecoderServer s;
    try {
      s = DecoderServer.start(c, ServerHost.internal(c.port(), connections.env(), telemetry));
    } catch (IllegalArgumentException e) {
      telemetry.close();
      throw new UserError(e.getMessage());
    } catch (Exception e) {
      telemetry.close();
      throw e;
    }
    ServerHost.closeOnShutdown(s::close, telemetry, "decoder-shutdown");
    System.err.println(
        "decoder: serving DecoderService on port "
            + s.port()
            + " ("
            + c.device()
            + ", "
            + c.maxBatch()
            + " sequences of up to "
            + c.maxSeqLen()
            + " tokens, "
            + m
            + ")");
    s.awaitTermination();
    return 0;
  }
}
