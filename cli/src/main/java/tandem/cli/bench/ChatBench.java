package tandem.cli.bench;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * {@code vlm bench chat}: time to first token and tokens/s through the gateway next to the same
 * prompt sent straight to decoder-svc, at each concurrency. Both paths get identical token ids (the
 * caller tokenizes the chat exactly as the gateway does) and identical generation parameters
 * (exactly {@code newTokens} greedy tokens), so the difference is what the gateway costs:
 * templating, tokenization, detokenization, box scanning and one more gRPC hop.
 */
public final class ChatBench {
  private ChatBench() {}

  /** One path at one concurrency level. */
  public record Level(
      int concurrency, int tokens, double wallS, double aggregateTokS, double ttftMeanMs) {}

  /**
   * The user text sent through the gateway, and the ids the gateway makes of it (for the direct
   * decoder path).
   */
  public record Prompt(String userText, int[] inputIds) {}

  public static void run(
      tandem.cli.ClientOptions client,
      String gateway,
      String decoder,
      Prompt prompt,
      int[] concurrencies,
      int newTokens,
      PrintWriter out)
      throws InterruptedException {
    ManagedChannel gw = client.open(gateway);
    ManagedChannel dec = client.open(decoder);
    try {
      var chat = ChatServiceGrpc.newStub(gw);
      var gen = DecoderServiceGrpc.newStub(dec);
      level(chat, null, prompt, 1, Math.min(4, newTokens)); // warm-up: connections, JIT
      level(null, gen, prompt, 1, Math.min(4, newTokens));
      List<Level[]> rows = new ArrayList<>();
      for (int c : concurrencies) {
        Level viaGateway = level(chat, null, prompt, c, newTokens);
        Level direct = level(null, gen, prompt, c, newTokens);
        rows.add(new Level[] {viaGateway, direct});
        out.printf(
            Locale.ROOT,
            "concurrency %d: gateway %.2f tok/s, TTFT %.0f ms | decoder-svc %.2f tok/s, TTFT %.0f"
                + " ms | gateway cost %.1f%% of tok/s%n",
            c,
            viaGateway.aggregateTokS,
            viaGateway.ttftMeanMs,
            direct.aggregateTokS,
            direct.ttftMeanMs,
            100 * (1 - viaGateway.aggregateTokS / direct.aggregateTokS));
        out.flush();
      }
      StringBuilder sb =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "{\"gateway\":\"%s\",\"decoder\":\"%s\",\"prompt_tokens\":%d,\"new_tokens\":%d,\"levels\":[",
                  gateway.replace("\"", ""),
                  decoder.replace("\"", ""),
                  prompt.inputIds().length,
                  newTokens));
      for (int i = 0; i < rows.size(); i++) {
        Level g = rows.get(i)[0];
        Level d = rows.get(i)[1];
        if (i > 0) sb.append(',');
        sb.append(
            String.format(
                Locale.ROOT,
                "{\"concurrency\":%d,\"gateway_tok_s\":%.3f,\"gateway_ttft_ms\":%.1f,\"decoder_tok_s\":%.3f,"
                    + "\"decoder_ttft_ms\":%.1f,\"gateway_cost_pct\":%.2f}",
                g.concurrency,
                g.aggregateTokS,
                g.ttftMeanMs,
                d.aggregateTokS,
                d.ttftMeanMs,
                100 * (1 - g.aggregateTokS / d.aggregateTokS)));
      }
      out.println(sb.append("]}"));
      out.flush();
    } finally {
      gw.shutdownNow();
      dec.shutdownNow();
      gw.awaitTermination(5, TimeUnit.SECONDS);
      dec.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static GenerationParams params(int newTokens) {
    return GenerationParams.newBuilder()
        .setMaxNewTokens(newTokens)
        .setMinNewTokens(newTokens)
        .setNoRepeatNgramSize(0)
        .setTemperature(0f)
        .build();
  }

  private record Result(double ttftMs, int tokens) {}

  private static Level level(
      ChatServiceGrpc.ChatServiceStub chat,
      DecoderServiceGrpc.DecoderServiceStub gen,
      Prompt prompt,
      int concurrency,
      int newTokens)
      throws InterruptedException {
    long t0 = System.nanoTime();
    List<CompletableFuture<Result>> futures = new ArrayList<>();
    for (int i = 0; i < concurrency; i++) {
      futures.add(
          chat != null
              ? viaGateway(chat, prompt, newTokens, i)
              : direct(gen, prompt, newTokens, i));
    }
    int tokens = 0;
    double ttft = 0;
    for (CompletableFuture<Result> f : futures) {
      Result r;
      try {
        r = f.get(30, TimeUnit.MINUTES);
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        throw new IllegalStateException(
            (chat != null ? "the gateway" : "decoder-svc")
                + " failed: "
                + (c instanceof StatusRuntimeException s
                    ? tandem.cli.ClientOptions.statusLine(s)
                    : c),
            c);
      } catch (TimeoutException e) {
        throw new IllegalStateException("a stream did not finish in 30 minutes");
      }
      tokens += r.tokens;
      ttft += r.ttftMs;
    }
    double wall = (System.nanoTime() - t0) / 1e9;
    return new Level(concurrency, tokens, wall, tokens / wall, ttft / concurrency);
  }

  private static CompletableFuture<Result> viaGateway(
      ChatServiceGrpc.ChatServiceStub chat, Prompt prompt, int newTokens, int i) {
    CompletableFuture<Result> f = new CompletableFuture<>();
    long start = System.nanoTime();
    ChatRequest req =
        ChatRequest.newBuilder()
            .setRequestId("bench-chat-" + i)
            .addMessages(
                ChatMessage.newBuilder()
                    .setRole("user")
                    .addContent(ContentPart.newBuilder().setText(prompt.userText())))
            .setParams(params(newTokens))
            .build();
    chat.chat(
        req,
        new StreamObserver<>() {
          double ttft = -1;
          int tokens = -1;

          @Override
          public void onNext(ChatChunk c) {
            if (ttft < 0 && (c.hasDelta() || c.hasBox())) ttft = (System.nanoTime() - start) / 1e6;
            if (c.hasFinal()) {
              if (c.getFinal().getFinishReason() == FinishReason.FINISH_REASON_ERROR) {
                f.completeExceptionally(new IllegalStateException(c.getFinal().getError()));
              }
              tokens = c.getFinal().getUsage().getCompletionTokens();
              if (ttft < 0) ttft = c.getFinal().getTimings().getTimeToFirstTokenMs();
            }
          }

          @Override
          public void onError(Throwable t) {
            f.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            if (tokens < 0)
              f.completeExceptionally(
                  new IllegalStateException("chat ended without a final chunk"));
            else f.complete(new Result(ttft, tokens));
          }
        });
    return f;
  }

  private static CompletableFuture<Result> direct(
      DecoderServiceGrpc.DecoderServiceStub gen, Prompt prompt, int newTokens, int i) {
    CompletableFuture<Result> f = new CompletableFuture<>();
    long start = System.nanoTime();
    GenerateRequest.Builder req =
        GenerateRequest.newBuilder().setRequestId("bench-direct-" + i).setParams(params(newTokens));
    for (int id : prompt.inputIds()) req.addInputIds(id);
    gen.generate(
        req.build(),
        new StreamObserver<>() {
          double ttft = -1;
          int tokens = -1;

          @Override
          public void onNext(GenerateResponse r) {
            if (r.hasTokens() && ttft < 0) ttft = (System.nanoTime() - start) / 1e6;
            if (r.hasFinal()) tokens = r.getFinal().getGeneratedTokens();
          }

          @Override
          public void onError(Throwable t) {
            f.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            if (tokens < 0)
              f.completeExceptionally(
                  new IllegalStateException("stream ended without a final message"));
            else f.complete(new Result(ttft, tokens));
          }
        });
    return f;
  }
}
