package tandem.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code vlm serve}: parent of the per-service servers ({@code vision}, {@code decoder}, …). */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = "Run a Tandem service.",
    subcommands = {
      ServeVisionCommand.class,
    })
public final class ServeCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
