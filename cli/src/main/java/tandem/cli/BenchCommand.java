package tandem.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code vlm bench}: parent of the per-service benchmarks. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmark a running Tandem service.",
    subcommands = {
      BenchVisionCommand.class,
    })
public final class BenchCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
