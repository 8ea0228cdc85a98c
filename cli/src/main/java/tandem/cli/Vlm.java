package tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code vlm} command. Every failure (bad path, bad shape, bad ids) is printed as one line on
 * stderr with exit code 2; subcommands throw {@link UserError} (or any exception) and this class
 * turns it into that line.
 */
@Command(
    name = "vlm",
    mixinStandardHelpOptions = true,
    version = "Tandem 0.1.0",
    description = "Tandem: SmolVLM2-256M married to Qwen3-0.6B, served over gRPC.",
    subcommands = {
      CommandLine.HelpCommand.class,
      GenerateCommand.class,
      BenchCommand.class,
      ServeCommand.class,
      CheckpointCommand.class,
      PreprocessCommand.class,
      EmbedCommand.class,
      DownloadCommand.class,
      PromptCommand.class,
      ChatCommand.class,
      DemoCommand.class,
      EvalCommand.class,
    })
public final class Vlm implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Vlm());
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
          cmd.getErr().println("vlm: error: " + msg.replace('\n', ' '));
          if (System.getenv("VLM_DEBUG") != null) ex.printStackTrace(cmd.getErr());
          return 2;
        });
    cl.setParameterExceptionHandler(
        (ex, args) -> {
          ex.getCommandLine().getErr().println("vlm: error: " + ex.getMessage());
          return 2;
        });
    return cl;
  }

  public static void main(String[] args) {
    // gRPC and the JDK log through java.util.logging: route it into slf4j, the one facade (levels:
    // simplelogger.properties)
    org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
    org.slf4j.bridge.SLF4JBridgeHandler.install();
    ChatCommand.setEmbeddedGateway(AllInOne::openEmbedded);
    System.exit(commandLine().execute(args));
  }
}
