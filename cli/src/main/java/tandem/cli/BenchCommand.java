package tandem.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tandem.cli.bench.DecodeServerBench;
import tandem.decoder.model.ComputeThreads;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Greedy;
import tandem.decoder.model.KvExhaustedException;
import tandem.decoder.model.KvStats;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.decoder.model.WeightFormat;

/** {@code vlm bench}: performance measurements. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Performance measurements.",
    subcommands = {
      BenchCommand.Decode.class,
      BenchChatCommand.class,
      BenchVisionCommand.class,
      tandem.cli.bench.SoakCommand.class
    })
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /**
   * {@code vlm bench decode --model DIR}: prefill and batch-1 greedy decode speed of the text model
   * in this process, with the memory-bandwidth floor for comparison. The last line is one JSON
   * object.
   */
  @Command(
      name = "decode",
      mixinStandardHelpOptions = true,
      description =
          "Prefill and decode speed; last line"
              + " {\"prefill_tok_s\",\"decode_tok_s\",\"peak_rss_mb\",\"floor_ratio\","
              + "\"weights\",\"kernel\",…}.")
  public static final class Decode implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", description = "checkpoint folder: measure the model in this process")
    Path model;

    @Option(
        names = "--server",
        description = "host:port of a running decoder-svc: measure continuous batching over gRPC")
    String server;

    /**
     * TLS for --server (decoder-svc with internal mTLS wants --tls-ca, --tls-cert and --tls-key).
     */
    @CommandLine.Mixin ClientOptions client = new ClientOptions();

    @Option(
        names = "--concurrency",
        split = ",",
        defaultValue = "1,2,4,8",
        description = "with --server: concurrent streams per level (default ${DEFAULT-VALUE})")
    int[] concurrency;

    @Option(
        names = "--arrivals",
        defaultValue = "together",
        description =
            "with --server: together (a level's streams start at once) or staggered (each starts"
                + " when the previous one has its first token, so prompts are prefilled while"
                + " others decode) (default ${DEFAULT-VALUE})")
    String arrivals;

    @Option(
        names = "--temperature",
        description =
            "with --server: every stream samples at this temperature (> 0), seeded with its index;"
                + " unset: the server's default (greedy unless generation_config.json samples)")
    Float temperature;

    @Option(
        names = "--top-k",
        description = "with --server: top-k for sampled streams (0 disables; unset: the default)")
    Integer topK;

    @Option(
        names = "--top-p",
        description =
            "with --server: top-p in (0, 1] for sampled streams (1 disables; unset: the default)")
    Float topP;

    @Option(
        names = "--prompt-tokens",
        defaultValue = "128",
        description = "prompt length (default ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(
        names = "--new-tokens",
        defaultValue = "64",
        description = "decoded tokens (default ${DEFAULT-VALUE})")
    int newTokens;

    @Option(
        names = "--device",
        defaultValue = "cpu",
        description = "cpu or cuda (default ${DEFAULT-VALUE})")
    String device;

    @Option(
        names = "--weights",
        defaultValue = "auto",
        description =
            "with --model: CPU weight format auto|bf16|q8_0|f32 (default ${DEFAULT-VALUE}: the"
                + " checkpoint's)")
    String weights;

    @Option(
        names = "--batch",
        defaultValue = "1",
        description =
            "with --model: also time decode steps of this many sequences together (default"
                + " ${DEFAULT-VALUE})")
    int batch;

    /**
     * The in-process bench holds a known set of sequences (the batch's, one for single-row steps),
     * so by default its KV budget is exactly what they take at full length, not a server's default
     * budget (512 MiB on CPU), which 8 sequences of 1,000 tokens on the full-size model exceed.
     */
    @Option(
        names = "--kv-cache-bytes",
        defaultValue = "0",
        description =
            "with --model: KV cache budget in bytes (default 0 = what the bench's sequences take"
                + " at full length; with --device cuda, the server's default)")
    long kvCacheBytes;

    /**
     * All cores by default: the Java kernel splits each weight matrix across threads, and two
     * threads read memory faster than one; prefill's GEMMs scale too. {@code --threads 1} measures
     * one core.
     */
    @Option(
        names = "--threads",
        defaultValue = "0",
        description =
            "with --model: compute threads (default 0 = all cores; the floor is read with the same"
                + " threads)")
    int threads;

    @Override
    public Integer call() throws Exception {
      if (server != null) {
        if (model != null)
          throw new UserError("give either --model DIR or --server ADDR, not both");
        if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
        if (promptTokens < 1)
          throw new UserError("--prompt-tokens must be >= 1, got " + promptTokens);
        for (int c : concurrency)
          if (c < 1) throw new UserError("--concurrency levels must be >= 1, got " + c);
        try {
          if (!arrivals.equals("together") && !arrivals.equals("staggered")) {
            throw new UserError("--arrivals must be together or staggered, got '" + arrivals + "'");
          }
          DecodeServerBench.run(
              client,
              server,
              concurrency,
              newTokens,
              promptTokens,
              arrivals.equals("staggered"),
              temperature == null && topK == null && topP == null
                  ? null
                  : new DecodeServerBench.Sampling(temperature, topK, topP),
              spec.commandLine().getOut());
        } catch (IllegalStateException e) {
          throw new UserError(e.getMessage());
        }
        return 0;
      }
      if (model == null)
        throw new UserError("bench decode needs --model DIR (in-process) or --server ADDR");
      client.rejectAll("--server (--model measures the model in this process)");
      if (temperature != null || topK != null || topP != null)
        throw new UserError(
            "--temperature, --top-k and --top-p go with --server (--model times greedy steps)");
      if (promptTokens < 1)
        throw new UserError("--prompt-tokens must be >= 1, got " + promptTokens);
      if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
      GenerateCommand.checkModelDir(model);
      if (threads < 0)
        throw new UserError("--threads must be >= 0 (0 = all cores), got " + threads);
      if (threads == 0) threads = Runtime.getRuntime().availableProcessors();
      ComputeThreads.set(threads);
      if (batch < 1) throw new UserError("--batch must be >= 1, got " + batch);
      try {
        WeightFormat.parse(weights);
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
      if (kvCacheBytes < 0)
        throw new UserError(
            "--kv-cache-bytes must be >= 0 (0 = what the bench's sequences take), got "
                + kvCacheBytes);
      DecoderOptions opts =
          new DecoderOptions(
              GenerateCommand.deviceOption(device),
              "float32",
              batch > 1 ? batch + 1 : 1, // with --batch: the batch's slots and one for single steps
              promptTokens + Math.max(newTokens, 8) + 1, // the warm-up generates 8
              weights);
      if (kvCacheBytes > 0 || opts.device().equals("cpu")) {
        // a budget larger than slots × max-seq-len takes only their blocks (DecodeKernel.kvBlocks)
        opts = opts.withKvCache(kvCacheBytes > 0 ? kvCacheBytes : Long.MAX_VALUE, null, true);
      }
      java.io.PrintWriter out = spec.commandLine().getOut();
      long t0 = System.nanoTime();
      try (Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(model, opts)) {
        out.printf(
            Locale.ROOT,
            "loaded %s in %.1f s; threads: %d; kernel: %s; weights: %s; RSS after load: %d MB%n",
            model,
            (System.nanoTime() - t0) / 1e9,
            threads,
            lm.decodeKernel(),
            lm.weightFormat(),
            rssMb("VmRSS"));
        KvStats kv = lm.kvStats();
        out.printf(
            Locale.ROOT,
            "KV cache: %d blocks of %d tokens (%.1f MiB of %s) for %d sequences of up to %d"
                + " tokens%n",
            kv.capacityBlocks(),
            kv.blockTokens(),
            kv.capacityBlocks() * (double) kv.blockBytes() / (1 << 20),
            kv.dtype(),
            opts.slots(),
            opts.maxSeqLen());
        SplittableRandom rnd = new SplittableRandom(1);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++)
          prompt[i] = rnd.nextInt(Math.min(lm.vocabSize(), 151643));

        // Warm-up until the JIT has compiled every path: Vector API code that C2 has not compiled
        // yet runs as a lane-by-lane fallback, tens of times slower (a server warms up the same
        // way before it reports SERVING).
        for (int w = 0; w < 3; w++) Greedy.generate(lm, 0, prompt, 8);
        if (batch > 1) {
          int[] ws = new int[batch];
          float[][] we = new float[batch][];
          int[] wl = new int[batch];
          for (int i = 0; i < batch; i++) {
            ws[i] = i;
            we[i] = lm.embed(prompt);
            wl[i] = prompt.length;
          }
          for (int w = 0; w < 2; w++) {
            lm.prefill(ws, we, wl);
            int[] ids = new int[batch];
            for (int k = 0; k < 4; k++) lm.decode(ws, ids);
            for (int i = 0; i < batch; i++) lm.release(i);
          }
        }
        lm.weightReadSeconds(2);

        float[] embeds = lm.embed(prompt);
        // The median of three prefills, as llama-bench -r 3 reports the mean of three: one prefill
        // alone wandered from 205 to 355 tok/s between runs minutes apart on this VM.
        double[] prefills = new double[3];
        float[] logits = null;
        for (int i = 0; i < prefills.length; i++) {
          if (i > 0) lm.release(0);
          long p0 = System.nanoTime();
          logits = lm.prefill(0, embeds, prompt.length);
          prefills[i] = (System.nanoTime() - p0) / 1e9;
        }
        java.util.Arrays.sort(prefills);
        double prefillS = prefills[1];
        int next = Greedy.argmax(logits);
        double[] steps = new double[newTokens];
        // This VM's memory bandwidth drifts within minutes, so the floor is measured in between the
        // decode steps (one full read of the same arrays, with the same threads and instructions,
        // every 8 steps) and the ratio compares times taken under the same conditions.
        List<Double> reads = new ArrayList<>();
        double decodeS = 0;
        for (int k = 0; k < newTokens; k++) {
          long s0 = System.nanoTime();
          next = Greedy.argmax(lm.decode(new int[] {0}, new int[] {next})[0]);
          steps[k] = (System.nanoTime() - s0) / 1e9;
          decodeS += steps[k];
          if (k % 8 == 7 || k == newTokens - 1) reads.add(lm.weightReadSeconds(1));
        }
        lm.release(0);

        long bytes = lm.weightBytesPerToken();
        java.util.Collections.sort(reads);
        double readS = reads.get(reads.size() / 2);
        double perToken = decodeS / newTokens;
        double prefillTokS = promptTokens / prefillS;
        double decodeTokS = newTokens / decodeS;
        double floorRatio = perToken / readS;
        java.util.Arrays.sort(steps);
        out.printf(
            Locale.ROOT,
            "prefill: %d tokens in %.3f s = %.1f tok/s (median of 3)%n",
            promptTokens,
            prefillS,
            prefillTokS);
        out.printf(
            Locale.ROOT,
            "decode:  %d tokens in %.3f s = %.2f tok/s (mean %.1f ms/token, median %.1f, best %.1f;"
                + " batch 1)%n",
            newTokens,
            decodeS,
            decodeTokS,
            perToken * 1e3,
            steps[steps.length / 2] * 1e3,
            steps[0] * 1e3);
        out.printf(
            Locale.ROOT,
            "floor:   %.1f MB of weights per token; the kernel's own read of them takes %.1f ms"
                + " (%.1f GB/s, %d threads; median of %d reads between the steps, %.1f–%.1f ms);"
                + " decode/floor = %.2f (median step %.2f, best step %.2f: the spread is other"
                + " load)%n",
            bytes / 1e6,
            readS * 1e3,
            bytes / readS / 1e9,
            threads,
            reads.size(),
            reads.get(0) * 1e3,
            reads.get(reads.size() - 1) * 1e3,
            floorRatio,
            steps[steps.length / 2] / readS,
            steps[0] / readS);
        double batchRatio = 1;
        double batchStepMs = Double.NaN;
        double computeMs = Double.NaN;
        double splitReadMs = Double.NaN;
        if (batch > 1) {
          // Batch steps alternate with single-row steps (slot `batch`), and the ratio is the median
          // of each pair's: both sides of a pair see the same memory speed, which on this VM drifts
          // more between two runs than the ratio moves.
          int[] slots = new int[batch];
          int[] ids = new int[batch];
          for (int i = 0; i < batch; i++) {
            slots[i] = i;
            ids[i] = Greedy.argmax(lm.prefill(i, embeds, prompt.length));
          }
          int one = Greedy.argmax(lm.prefill(batch, embeds, prompt.length));
          double[] ratios = new double[newTokens];
          double[] batchSteps = new double[newTokens];
          double batchS = 0;
          for (int k = 0; k < newTokens; k++) {
            long s0 = System.nanoTime();
            one = Greedy.argmax(lm.decode(new int[] {batch}, new int[] {one})[0]);
            long s1 = System.nanoTime();
            float[][] l = lm.decode(slots, ids);
            long s2 = System.nanoTime();
            for (int i = 0; i < batch; i++) ids[i] = Greedy.argmax(l[i]);
            ratios[k] = (double) (s2 - s1) / (s1 - s0);
            batchSteps[k] = (s2 - s1) / 1e9;
            batchS += batchSteps[k];
          }
          for (int i = 0; i <= batch; i++) lm.release(i);
          java.util.Arrays.sort(ratios);
          java.util.Arrays.sort(batchSteps);
          batchRatio = ratios[newTokens / 2];
          batchStepMs = batchSteps[newTokens / 2] * 1e3;
          // What a batch step costs beyond its read: the same matrices' multiply-adds for `batch`
          // rows with the weights held in cache, alternating with reads of the weights (medians of
          // 5 each, so both see the same memory speed).
          double[] split = new double[5];
          double[] splitReads = new double[5];
          for (int i = 0; i < split.length; i++) {
            splitReads[i] = lm.weightReadSeconds(1);
            split[i] = lm.multiplyInCacheSeconds(batch, 1);
          }
          java.util.Arrays.sort(split);
          java.util.Arrays.sort(splitReads);
          computeMs = split[2] * 1e3;
          splitReadMs = splitReads[2] * 1e3;
          out.printf(
              Locale.ROOT,
              "batch %d: %.1f ms/step = %.2f tok/s in total; a batch step is %.2fx the single-row"
                  + " step beside it (median of %d pairs, %.2f–%.2f)%n",
              batch,
              batchS / newTokens * 1e3,
              batch * newTokens / batchS,
              batchRatio,
              newTokens,
              ratios[0],
              ratios[newTokens - 1]);
          if (Double.isFinite(computeMs)) {
            out.printf(
                Locale.ROOT,
                "batch %d split: reading the weights %.1f ms, their multiply-adds for %d rows with"
                    + " the weights in cache %.1f ms, sum %.1f ms; the batch step (median %.1f ms)"
                    + " is %.2fx that sum%n",
                batch,
                splitReadMs,
                batch,
                computeMs,
                splitReadMs + computeMs,
                batchStepMs,
                batchStepMs / (splitReadMs + computeMs));
          }
        }
        long rssMb = peakRssMb();
        out.printf(Locale.ROOT, "peak RSS: %d MB%n", rssMb);
        out.printf(
            Locale.ROOT,
            "{\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.3f,\"peak_rss_mb\":%d,\"floor_ratio\":%.3f,"
                + "\"floor_gb_s\":%.2f,\"batch\":%d,\"batch_step_ratio\":%.3f,\"weights\":\"%s\",\"kernel\":\"%s\","
                + "\"threads\":%d%s}%n",
            prefillTokS,
            decodeTokS,
            rssMb,
            floorRatio,
            bytes / readS / 1e9,
            batch,
            batchRatio,
            lm.weightFormat(),
            lm.decodeKernel(),
            threads,
            Double.isFinite(computeMs)
                ? String.format(
                    Locale.ROOT,
                    ",\"batch_step_ms\":%.2f,\"read_ms\":%.2f,\"batch_compute_ms\":%.2f",
                    batchStepMs,
                    splitReadMs,
                    computeMs)
                : "");
        out.flush();
      } catch (KvExhaustedException e) {
        throw new UserError(
            e.getMessage()
                + ": give --kv-cache-bytes 0 (what the bench's sequences take) or a larger budget");
      }
      return 0;
    }

    /** VmHWM of this process (Linux); -1 where /proc is unavailable. */
    static long peakRssMb() {
      return rssMb("VmHWM");
    }

    /**
     * A memory line of /proc/self/status in MB (VmHWM peak, VmRSS now); -1 where /proc is
     * unavailable.
     */
    static long rssMb(String key) {
      try {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
          if (line.startsWith(key + ":")) {
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
