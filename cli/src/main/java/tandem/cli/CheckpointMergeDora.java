package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.common.checkpoint.AdapterMerger;

/** {@code vlm checkpoint merge-dora}: fold PEFT LoRA/DoRA adapters into a plain checkpoint. */
@Command(
    name = "merge-dora",
    mixinStandardHelpOptions = true,
    description = {
      "Merge PEFT LoRA/DoRA adapters of a training folder into plain weights:",
      "  DoRA: W = m * rownorm(W + B·A·alpha/rank);  LoRA (no magnitude): W + B·A·alpha/rank.",
      "Reads model.safetensors (or its index) and adapter_model.safetensors when present;"
          + " alpha/rank/use_rslora from",
      "adapter_config.json unless given here."
    })
final class CheckpointMergeDora implements Callable<Integer> {
  @Option(
      names = "--in",
      required = true,
      paramLabel = "TRAINING_DIR",
      description = "training checkpoint folder")
  Path in;

  @Option(
      names = "--out",
      required = true,
      paramLabel = "DIR",
      description = "output folder (created)")
  Path out;

  @Option(
      names = "--alpha",
      paramLabel = "A",
      description = "lora_alpha (default: adapter_config.json, else 32)")
  Double alpha;

  @Option(
      names = "--rank",
      paramLabel = "R",
      description = "expected rank r (default: adapter_config.json, else the tensors' rank)")
  Integer rank;

  @Option(
      names = "--dtype",
      paramLabel = "BF16|F32",
      description =
          "dtype of the merged weights (default: each base weight's own; F32 keeps the merge exact,"
              + " BF16 rounds it)")
  String dtype;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (!Files.isDirectory(in)) throw new UserError("--in folder " + in + " does not exist");
    if (!Files.isRegularFile(in.resolve("config.json")))
      throw new UserError("no config.json in " + in);
    if (alpha != null && !(alpha > 0))
      throw new UserError("--alpha must be positive, got " + alpha);
    if (rank != null && rank <= 0) throw new UserError("--rank must be positive, got " + rank);
    if (Files.exists(out) && !Files.isDirectory(out))
      throw new UserError("--out " + out + " is a file, not a folder");
    long t0 = System.nanoTime();
    AdapterMerger.Result r;
    try {
      r = AdapterMerger.merge(in, out, new AdapterMerger.Settings(alpha, rank, dtype));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    var pw = spec.commandLine().getOut();
    long dora = r.merged().stream().filter(AdapterMerger.MergedModule::dora).count();
    pw.printf(
        "merged %d modules (%d DoRA, %d LoRA), copied %d tensors, into %s in %.1f s%n",
        r.merged().size(),
        dora,
        r.merged().size() - dora,
        r.passthrough(),
        out,
        (System.nanoTime() - t0) / 1e9);
    if (r.merged().isEmpty())
      pw.println("warning: no lora_A/lora_B tensors found; the weights were only renamed");
    for (String n : r.unusedNames()) pw.println("warning: tensor not used by the model: " + n);
    pw.flush();
    return 0;
  }
}
