package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.cli.bench.DecodeServerBench;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Greedy;
import tandem.decoder.model.Qwen3ForCausalLM;

/** {@code vlm bench}: performance measurements. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Performance measurements.",
    subcommands = {BenchCommand.Decode.class})
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /**
   * {@code vlm bench decode --model DIR}: prefill and batch-1 greedy decode speed of the text model in this process,
   * with the memory-bandwidth floor for comparison. The last line is one JSON object.
   */
  @Command(
      name = "decode",
      mixinStandardHelpOptions = true,
      description = "Prefill and decode speed; last line {\"prefill_tok_s\",\"decode_tok_s\",\"peak_rss_mb\",\"floor_ratio\"}.")
  public static final class Decode implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", description = "checkpoint folder: measure the model in this process")
    Path model;

    @Option(names = "--server", description = "host:port of a running decoder-svc: measure continuous batching over gRPC")
    String server;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,2,4,8",
        description = "with --server: concurrent streams per level (default ${DEFAULT-VALUE})")
    int[] concurrency;

    @Option(names = "--prompt-tokens", defaultValue = "128", description = "prompt length (default ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--new-tokens", defaultValue = "64", description = "decoded tokens (default ${DEFAULT-VALUE})")
    int newTokens;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (default ${DEFAULT-VALUE})")
    String device;

    @Override
    public Integer call() throws Exception {
      if (server != null) {
        if (model != null) throw new UserError("give either --model DIR or --server ADDR, not both");
        if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
        if (promptTokens < 1) throw new UserError("--prompt-tokens must be >= 1, got " + promptTokens);
        for (int c : concurrency) if (c < 1) throw new UserError("--concurrency levels must be >= 1, got " + c);
        try {
          DecodeServerBench.run(server, concurrency, newTokens, promptTokens, spec.commandLine().getOut());
        } catch (IllegalStateException e) {
          throw new UserError(e.getMessage());
        }
        return 0;
      }
      if (model == null) throw new UserError("bench decode needs --model DIR (in-process) or --server ADDR");
      if (promptTokens < 1) throw new UserError("--prompt-tokens must be >= 1, got " + promptTokens);
      if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
      GenerateCommand.checkModelDir(model);
      DecoderOptions opts =
          new DecoderOptions(GenerateCommand.deviceOption(device), "float32", 1, promptTokens + newTokens);
      long t0 = System.nanoTime();
      try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(model, opts)) {
        System.out.printf(Locale.ROOT, "loaded %s in %.1f s%n", model, (System.nanoTime() - t0) / 1e9);
        SplittableRandom rnd = new SplittableRandom(1);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) prompt[i] = rnd.nextInt(Math.min(lm.vocabSize(), 151643));

        Greedy.generate(lm, 0, prompt, 4); // warm-up: first-call allocations, thread pools, page faults

        float[] embeds = lm.embed(prompt);
        long p0 = System.nanoTime();
        float[] logits = lm.prefill(0, embeds, prompt.length);
        double prefillS = (System.nanoTime() - p0) / 1e9;
        int next = Greedy.argmax(logits);
        long d0 = System.nanoTime();
        for (int k = 0; k < newTokens; k++) {
          next = Greedy.argmax(lm.decode(new int[] {0}, new int[] {next})[0]);
        }
        double decodeS = (System.nanoTime() - d0) / 1e9;
        lm.release(0);

        long bytes = lm.weightBytesPerToken();
        double readS = lm.weightReadSeconds(3);
        double perToken = decodeS / newTokens;
        double prefillTokS = promptTokens / prefillS;
        double decodeTokS = newTokens / decodeS;
        double floorRatio = perToken / readS;
        long rssMb = peakRssMb();
        System.out.printf(Locale.ROOT, "prefill: %d tokens in %.3f s = %.1f tok/s%n", promptTokens, prefillS, prefillTokS);
        System.out.printf(
            Locale.ROOT, "decode:  %d tokens in %.3f s = %.2f tok/s (%.1f ms/token, batch 1)%n",
            newTokens, decodeS, decodeTokS, perToken * 1e3);
        System.out.printf(
            Locale.ROOT, "floor:   %.1f MB of weights per token; libtorch sum reads them in %.1f ms (%.1f GB/s);"
                + " decode/floor = %.2f%n",
            bytes / 1e6, readS * 1e3, bytes / readS / 1e9, floorRatio);
        System.out.printf(Locale.ROOT, "peak RSS: %d MB%n", rssMb);
        System.out.printf(
            Locale.ROOT,
            "{\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.3f,\"peak_rss_mb\":%d,\"floor_ratio\":%.3f}%n",
            prefillTokS, decodeTokS, rssMb, floorRatio);
      }
      return 0;
    }

    /** VmHWM of this process (Linux); -1 where /proc is unavailable. */
    static long peakRssMb() {
      try {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
          if (line.startsWith("VmHWM:")) {
            return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
          }
        }
      } catch (Exception e) {
        // fall through: not Linux
      }
      return -1;
    }
  }
}
