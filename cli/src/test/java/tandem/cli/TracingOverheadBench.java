package tandem.cli;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.TinyCheckpoints;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.types.v1.GenerationParams;

/**
 * Overhead of tracing on decode tokens/s (issue 6: under 2%). Two all-in-one servers on the same
 * checkpoint in one JVM: "off" built from {@code OTEL_SDK_DISABLED=true}, "on" from {@code
 * OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9} (nothing listens: every export fails, as with an
 * unreachable collector). Rounds alternate off/on so machine noise hits both alike; each round runs
 * {@code chats} sequential chats of exactly {@code tokens} new tokens and reports decode tokens/s
 * ((n-1)/decode_ms as the decoder measured it) and chat wall time. Prints per-round numbers and the
 * medians.
 *
 * <p>Run: {@code java -cp <test classpath> tandem.cli.TracingOverheadBench [rounds] [chats]
 * [tokens] [model|-] [onfirst]}.
 */
public final class TracingOverheadBench {
  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    int chats = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    Path model =
        args.length > 3 && !args[3].equals("-") ? Path.of(args[3]) : TinyCheckpoints.vlmTiny();
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_DECODER_MAX_BATCH", "1");
    env.put("TANDEM_DECODER_MAX_SEQ_LEN", "512");
    Telemetry off = Telemetry.fromEnv("tandem", Map.of("OTEL_SDK_DISABLED", "true"), 0, null);
    Telemetry on =
        Telemetry.fromEnv(
            "tandem", Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"), 0, null);
    String nOff = "bench-off-" + UUID.randomUUID();
    String nOn = "bench-on-" + UUID.randomUUID();
    // Which server is built first turned out to matter on this machine (the second ran faster,
    // whatever its
    // telemetry), so "onfirst" as the 5th argument swaps the order to separate that from tracing.
    boolean onFirstBuilt = args.length > 4 && args[4].equals("onfirst");
    AllInOne first =
        onFirstBuilt
            ? AllInOne.start(model, "cpu", env, InProcessServerBuilder.forName(nOn), on)
            : AllInOne.start(model, "cpu", env, InProcessServerBuilder.forName(nOff), off);
    AllInOne second =
        onFirstBuilt
            ? AllInOne.start(model, "cpu", env, InProcessServerBuilder.forName(nOff), off)
            : AllInOne.start(model, "cpu", env, InProcessServerBuilder.forName(nOn), on);
    try (first;
        second) {
      ManagedChannel cOff = InProcessChannelBuilder.forName(nOff).build();
      ManagedChannel cOn = InProcessChannelBuilder.forName(nOn).build();
      run(cOff, 3, tokens); // warm-up both (JIT, first allocations)
      run(cOn, 3, tokens);
      // Pairs of single chats, order alternating, so load changes on this shared machine hit both
      // sides alike.
      double[] ratios = new double[rounds];
      double[] offTok = new double[rounds];
      double[] onTok = new double[rounds];
      double[] offWall = new double[rounds];
      double[] onWall = new double[rounds];
      for (int r = 0; r < rounds; r++) {
        boolean onFirst = r % 2 == 1;
        double[] a = run(onFirst ? cOn : cOff, chats, tokens);
        double[] b = run(onFirst ? cOff : cOn, chats, tokens);
        double[] offN = onFirst ? b : a;
        double[] onN = onFirst ? a : b;
        offTok[r] = offN[0];
        onTok[r] = onN[0];
        offWall[r] = offN[1];
        onWall[r] = onN[1];
        ratios[r] = onN[0] / offN[0];
        if (r < 10 || r % 20 == 0) {
          System.out.printf(
              Locale.ROOT,
              "round %3d  off %.1f tok/s %.1f ms/chat | on %.1f tok/s %.1f ms/chat | on/off %.4f%n",
              r,
              offN[0],
              offN[1],
              onN[0],
              onN[1],
              ratios[r]);
        }
      }
      double offMed = median(offTok);
      double onMed = median(onTok);
      double[] sorted = ratios.clone();
      Arrays.sort(sorted);
      System.out.printf(
          Locale.ROOT,
          "median decode tok/s: off %.1f, on %.1f (%+.2f%%); per-pair on/off ratio: median %.4f"
              + " (%+.2f%%), quartiles %.4f..%.4f; median chat wall: off %.1f ms, on %.1f ms"
              + " (%+.2f%%); %d pairs x %d chats x %d tokens, model %s, built first: %s%n",
          offMed,
          onMed,
          100 * (onMed / offMed - 1),
          median(ratios),
          100 * (median(ratios) - 1),
          sorted[rounds / 4],
          sorted[(3 * rounds) / 4],
          median(offWall),
          median(onWall),
          100 * (median(onWall) / median(offWall) - 1),
          rounds,
          chats,
          tokens,
          model,
          onFirstBuilt ? "on" : "off");
      cOff.shutdownNow();
      cOn.shutdownNow();
    } finally {
      off.close();
      on.close();
    }
  }

  /** {decode tok/s over all chats, mean chat wall ms}. */
  static double[] run(ManagedChannel ch, int chats, int tokens) {
    double decodeMs = 0;
    long n = 0;
    long t0 = System.nanoTime();
    for (int i = 0; i < chats; i++) {
      ChatRequest req =
          ChatRequests.user("Tell me a long story about a lighthouse keeper, number " + i + ".")
              .setParams(
                  GenerationParams.newBuilder()
                      .setMaxNewTokens(tokens)
                      .setMinNewTokens(tokens)
                      .setTemperature(0f))
              .build();
      ChatFinal fin = null;
      Iterator<ChatChunk> it = ChatServiceGrpc.newBlockingStub(ch).chat(req);
      while (it.hasNext()) {
        ChatChunk c = it.next();
        if (c.hasFinal()) fin = c.getFinal();
      }
      if (fin == null || !fin.getError().isEmpty())
        throw new IllegalStateException("chat failed: " + fin);
      decodeMs += fin.getTimings().getDecodeMs();
      n += fin.getUsage().getCompletionTokens() - 1;
    }
    return new double[] {n * 1000.0 / decodeMs, (System.nanoTime() - t0) / 1e6 / chats};
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
