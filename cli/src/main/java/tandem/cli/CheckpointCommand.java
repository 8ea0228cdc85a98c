package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.checkpoint.CheckpointGenerator;
import tandem.common.checkpoint.TensorStore;

/** {@code vlm checkpoint ...}: tools that make and examine checkpoint folders. */
@Command(
    name = "checkpoint",
    mixinStandardHelpOptions = true,
    description = "Make and examine checkpoint folders.",
    subcommands = {
      CheckpointCommand.Random.class,
      CheckpointInspect.class,
      CheckpointMergeDora.class
    })
public final class CheckpointCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code vlm checkpoint random}: a TRW-1 random-weight checkpoint with the real file set. */
  @Command(
      name = "random",
      mixinStandardHelpOptions = true,
      description = {
        "Write a random-weight checkpoint (TRW-1, BF16) with config, processor, generation and"
            + " tokenizer files.",
        "The same preset/config and seed always give the same tensor bytes."
      })
  static final class Random implements Callable<Integer> {
    static final class Shape {
      @Option(
          names = "--preset",
          paramLabel = "tiny|full",
          description =
              "tiny = the vlm-tiny fixture's shapes; full = the real model's shapes (about 1.4 GB)")
      String preset;

      @Option(
          names = "--config",
          paramLabel = "CONFIG.json",
          description =
              "a config.json (Idefics3/SmolVLM or Qwen3ForCausalLM); side files next to it are"
                  + " copied")
      Path config;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Shape shape;

    @Option(
        names = "--seed",
        paramLabel = "N",
        description = "TRW-1 seed (overrides the seed of --trw1)")
    Long seed;

    @Option(
        names = "--trw1",
        paramLabel = "trw1.json",
        description = "seed and row_gains from a fixture's trw1.json")
    Path trw1;

    @Option(
        names = "--out",
        required = true,
        paramLabel = "DIR",
        description = "output folder (created)")
    Path out;

    @Option(
        names = "--lm-head",
        description = {
          "also store lm_head.weight, drawn by TRW-1 on its own (tied models leave",
          "it out; with a tied config HF and decoder-svc ignore the stored copy)"
        })
    boolean lmHead;

    @Option(
        names = "--dtype",
        defaultValue = "BF16",
        paramLabel = "BF16|F32",
        description = "storage dtype (default ${DEFAULT-VALUE})")
    String dtype;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      if (seed == null && trw1 == null) throw new UserError("give --seed N or --trw1 trw1.json");
      if (trw1 != null && !Files.isRegularFile(trw1))
        throw new UserError("--trw1 file " + trw1 + " does not exist");
      if (shape.config != null && !Files.isRegularFile(shape.config)) {
        throw new UserError("--config file " + shape.config + " does not exist");
      }
      if (Files.exists(out) && !Files.isDirectory(out))
        throw new UserError("--out " + out + " is a file, not a folder");
      String dt = dtype.toUpperCase(java.util.Locale.ROOT);
      if (!dt.equals("BF16") && !dt.equals("F32"))
        throw new UserError("--dtype must be BF16 or F32, got " + dtype);

      CheckpointGenerator.Options base =
          trw1 != null
              ? CheckpointGenerator.Options.fromTrw1Json(trw1)
              : new CheckpointGenerator.Options(seed);
      var opt =
          new CheckpointGenerator.Options(
              seed != null ? seed : base.seed(), base.rowGains(), lmHead, dt);

      long t0 = System.nanoTime();
      try {
        if (shape.preset != null) {
          CheckpointGenerator.generate(CheckpointGenerator.Preset.parse(shape.preset), out, opt);
        } else {
          CheckpointGenerator.generate(shape.config, out, opt);
        }
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      long params = 0;
      int count;
      try (TensorStore store = TensorStore.open(out)) {
        for (var info : store.infos().values()) params += info.numel();
        count = store.names().size();
      }
      long bytes = Files.size(out.resolve("model.safetensors"));
      spec.commandLine()
          .getOut()
          .printf(
              "wrote %s: %d tensors, %,d parameters, model.safetensors %,d bytes (%s, seed %d) in"
                  + " %.1f s%n",
              out, count, params, bytes, dt, opt.seed(), secs);
      return 0;
    }
  }
}
