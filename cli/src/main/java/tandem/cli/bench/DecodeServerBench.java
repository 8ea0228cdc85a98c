package tandem.cli.bench;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * {@code vlm bench decode --server ADDR}: continuous-batching throughput of a running decoder-svc.
 * For each concurrency level it starts that many Generate streams at once (random prompts, exactly
 * {@code newTokens} new tokens each: min_new_tokens = max_new_tokens, the server's other defaults)
 * and reports
 *
 * <ul>
 *   <li>aggregate tokens/s: all streams' tokens over the wall time from the first call to the last
 *       final message (prefills included, as a user sees it);
 *   <li>per-stream tokens/s: each stream's (tokens - 1) / decode_ms, averaged;
 *   <li>time to first token as the client measured it (mean and max);
 *   <li>per-step overhead: the share of the server's decode-step time spent outside the model
 *       forward (logits processors, sampling, streaming), from GenerateFinal's step_model_ms /
 *       step_total_ms;
 *   <li>model time a step ({@code step_model_ms}): the mean forward time of the decode steps the
 *       streams took part in, as the server timed them (step_model_ms over generated_tokens − 1,
 *       summed over the streams), to set beside the in-process {@code vlm bench decode --model};
 *   <li>inter-token latency: every gap between two token messages of a stream, as the client saw
 *       them, over all streams of the level, median and 99th percentile ({@code itl_p50_ms}, {@code
 *       itl_p99_ms}).
 * </ul>
 *
 * With {@link Sampling} the streams sample (temperature, top-k, top-p, each stream seeded with its
 * index) instead of taking the server's defaults (greedy unless the checkpoint's
 * generation_config.json says otherwise): the logits processors then run for every row of every
 * step, and the step overhead shows what they cost.
 *
 * <p>With {@code staggered} arrivals a level's streams start one after another, each as soon as the
 * previous one has its first token, so every new prompt is prefilled while the earlier streams
 * decode: the inter-token percentiles then show how much a prefill disturbs the running streams.
 */
public final class DecodeServerBench {
  private DecodeServerBench() {}

  /**
   * Sampling controls every stream sends (the server validates them: temperature > 0, top_k >= 0,
   * top_p in (0, 1]); null fields are left to the server's defaults.
   */
  public record Sampling(Float temperature, Integer topK, Float topP) {
    void applyTo(GenerationParams.Builder p, int stream) {
      if (temperature != null) p.setTemperature(temperature);
      if (topK != null) p.setTopK(topK);
      if (topP != null) p.setTopP(topP);
      p.setSeed(stream);
    }

    String json() {
      return String.format(
          Locale.ROOT, "{\"temperature\":%s,\"top_k\":%s,\"top_p\":%s}", temperature, topK, topP);
    }
  }

  /** One concurrency level's numbers. */
  public record Level(
      int concurrency,
      int tokens,
      double wallS,
      double aggregateTokS,
      double perStreamTokS,
      double ttftMeanMs,
      double ttftMaxMs,
      double stepOverheadPct,
      double stepModelMs,
      double itlP50Ms,
      double itlP99Ms,
      long cachedPromptTokens) {}

  /** Runs every level against {@code address} and prints one line per level, then one JSON line. */
  public static List<Level> run(
      tandem.cli.ClientOptions client,
      String address,
      int[] concurrencies,
      int newTokens,
      int promptTokens,
      boolean staggered,
      Sampling sampling,
      PrintWriter out)
      throws InterruptedException {
    ManagedChannel ch = client.open(address);
    try {
      var stub = DecoderServiceGrpc.newStub(ch);
      SplittableRandom rnd = new SplittableRandom(7);
      // Warm-up: one short stream so the first level does not pay for connection setup.
      runLevel(stub, 1, Math.min(4, newTokens), promptTokens, false, sampling, rnd);
      List<Level> levels = new ArrayList<>();
      for (int c : concurrencies) {
        Level l = runLevel(stub, c, newTokens, promptTokens, staggered, sampling, rnd);
        levels.add(l);
        out.printf(
            Locale.ROOT,
            "concurrency %d: aggregate %.2f tok/s, per-stream %.2f tok/s, TTFT mean %.0f ms (max"
                + " %.0f ms), inter-token p50 %.0f ms p99 %.0f ms, step overhead %.2f%%, model"
                + " %.1f ms a step (%d tokens in %.1f s)%n",
            c,
            l.aggregateTokS,
            l.perStreamTokS,
            l.ttftMeanMs,
            l.ttftMaxMs,
            l.itlP50Ms,
            l.itlP99Ms,
            l.stepOverheadPct,
            l.stepModelMs,
            l.tokens,
            l.wallS);
        out.flush();
      }
      out.println(json(address, newTokens, promptTokens, staggered, sampling, levels));
      out.flush();
      return levels;
    } finally {
      ch.shutdownNow();
      ch.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  static String json(
      String address,
      int newTokens,
      int promptTokens,
      boolean staggered,
      Sampling sampling,
      List<Level> levels) {
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "{\"server\":\"%s\",\"new_tokens\":%d,\"prompt_tokens\":%d,\"arrivals\":\"%s\","
                + "\"sampling\":%s,\"levels\":[",
            address.replace("\"", ""),
            newTokens,
            promptTokens,
            staggered ? "staggered" : "together",
            sampling == null ? "\"server defaults\"" : sampling.json()));
    for (int i = 0; i < levels.size(); i++) {
      Level l = levels.get(i);
      if (i > 0) sb.append(',');
      sb.append(
          String.format(
              Locale.ROOT,
              "{\"concurrency\":%d,\"aggregate_tok_s\":%.3f,\"per_stream_tok_s\":%.3f,"
                  + "\"ttft_ms\":%.1f,\"ttft_max_ms\":%.1f,\"itl_p50_ms\":%.1f,\"itl_p99_ms\":%.1f,"
                  + "\"step_overhead_pct\":%.3f,\"step_model_ms\":%.2f,\"cached_prompt_tokens\":%d,"
                  + "\"tokens\":%d,\"wall_s\":%.3f}",
              l.concurrency,
              l.aggregateTokS,
              l.perStreamTokS,
              l.ttftMeanMs,
              l.ttftMaxMs,
              l.itlP50Ms,
              l.itlP99Ms,
              l.stepOverheadPct,
              l.stepModelMs,
              l.cachedPromptTokens,
              l.tokens,
              l.wallS));
    }
    sb.append(']');
    Level first = levels.isEmpty() ? null : levels.get(0);
    Level last = levels.isEmpty() ? null : levels.get(levels.size() - 1);
    if (first != null && first.concurrency == 1 && last.concurrency > 1) {
      sb.append(
          String.format(
              Locale.ROOT,
              ",\"aggregate_speedup_%d_vs_1\":%.3f",
              last.concurrency,
              last.aggregateTokS / first.aggregateTokS));
    }
    return sb.append('}').toString();
  }

  private record Stream(double ttftMs, GenerateFinal fin, double[] gapsMs) {}

  private static Level runLevel(
      DecoderServiceGrpc.DecoderServiceStub stub,
      int concurrency,
      int newTokens,
      int promptTokens,
      boolean staggered,
      Sampling sampling,
      SplittableRandom rnd)
      throws InterruptedException {
    List<CompletableFuture<Stream>> futures = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int i = 0; i < concurrency; i++) {
      GenerationParams.Builder params =
          GenerationParams.newBuilder().setMaxNewTokens(newTokens).setMinNewTokens(newTokens);
      if (sampling != null) sampling.applyTo(params, i);
      GenerateRequest.Builder req =
          GenerateRequest.newBuilder()
              .setRequestId("bench-" + concurrency + "-" + i)
              .setParams(params);
      // Ordinary vocabulary ids (below Qwen's special tokens), so no prompt contains a stop or
      // image token.
      for (int k = 0; k < promptTokens; k++) req.addInputIds(rnd.nextInt(151643));
      CompletableFuture<Void> first = new CompletableFuture<>();
      futures.add(call(stub, req.build(), first));
      if (staggered && i + 1 < concurrency) {
        try {
          first.get(30, TimeUnit.MINUTES);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
          break; // the stream failed or hung: its future reports why below
        }
      }
    }
    List<Stream> streams = new ArrayList<>();
    for (CompletableFuture<Stream> f : futures) {
      try {
        streams.add(f.get(30, TimeUnit.MINUTES));
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        throw new IllegalStateException(
            c instanceof StatusRuntimeException s
                ? "the decoder answered " + tandem.cli.ClientOptions.statusLine(s)
                : "a stream failed: " + c,
            c);
      } catch (java.util.concurrent.TimeoutException e) {
        throw new IllegalStateException("a stream did not finish in 30 minutes");
      }
    }
    double wallS = (System.nanoTime() - t0) / 1e9;
    int tokens = 0;
    double perStream = 0, ttftSum = 0, ttftMax = 0, model = 0, total = 0;
    long decodeSteps = 0; // the decode steps the streams took part in, each counted once a stream
    long cached = 0;
    List<Double> gaps = new ArrayList<>();
    for (Stream s : streams) {
      for (double g : s.gapsMs) gaps.add(g);
      cached += s.fin.getCachedPromptTokens();
      GenerateFinal f = s.fin;
      if (f.getFinishReason() == FinishReason.FINISH_REASON_ERROR) {
        throw new IllegalStateException("the decoder failed a stream: " + f.getError());
      }
      tokens += f.getGeneratedTokens();
      if (f.getDecodeMs() > 0) perStream += (f.getGeneratedTokens() - 1) / (f.getDecodeMs() / 1e3);
      ttftSum += s.ttftMs;
      ttftMax = Math.max(ttftMax, s.ttftMs);
      model += f.getStepModelMs();
      total += f.getStepTotalMs();
      decodeSteps += Math.max(0, f.getGeneratedTokens() - 1); // the first token comes from prefill
    }
    double overhead = total > 0 ? 100 * (total - model) / total : 0;
    gaps.sort(null);
    return new Level(
        concurrency,
        tokens,
        wallS,
        tokens / wallS,
        perStream / streams.size(),
        ttftSum / streams.size(),
        ttftMax,
        overhead,
        decodeSteps > 0 ? model / decodeSteps : 0,
        percentile(gaps, 0.50),
        percentile(gaps, 0.99),
        cached);
  }

  /** The nearest-rank percentile of sorted values (0 when there are none). */
  static double percentile(List<Double> sorted, double q) {
    if (sorted.isEmpty()) return 0;
    int rank = (int) Math.ceil(q * sorted.size());
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
  }

  private static CompletableFuture<Stream> call(
      DecoderServiceGrpc.DecoderServiceStub stub,
      GenerateRequest req,
      CompletableFuture<Void> first) {
    CompletableFuture<Stream> f = new CompletableFuture<>();
    long start = System.nanoTime();
    stub.generate(
        req,
        new StreamObserver<>() {
          double ttft = -1;
          long last;
          final List<Double> gaps = new ArrayList<>();
          GenerateFinal fin;

          @Override
          public void onNext(GenerateResponse r) {
            long now = System.nanoTime();
            if (r.hasTokens()) {
              if (ttft < 0) {
                ttft = (now - start) / 1e6;
                first.complete(null);
              } else {
                gaps.add((now - last) / 1e6);
              }
              last = now;
            }
            if (r.hasFinal()) fin = r.getFinal();
          }

          @Override
          public void onError(Throwable t) {
            first.completeExceptionally(t);
            f.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            first.complete(null);
            if (fin == null)
              f.completeExceptionally(
                  new IllegalStateException("stream ended without a final message"));
            else
              f.complete(
                  new Stream(ttft, fin, gaps.stream().mapToDouble(Double::doubleValue).toArray()));
          }
        });
    return f;
  }
}
