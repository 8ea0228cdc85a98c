package tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code vlm serve}: run Tandem's services (one of them, in the split deployment). */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = "Run a Tandem service.",
    subcommands = {ServeDecoderCommand.class, ServeGatewayCommand.class})
public final class ServeCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
