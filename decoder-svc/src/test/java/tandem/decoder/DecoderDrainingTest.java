package tandem.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.generate.FakeCausalLm;
import tandem.decoder.generate.GenerationDefaults;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.FinishReason;

/**
 * A stopping decoder-svc (SIGTERM in a pod: {@link DecoderServer#close()}) on a real port: new
 * Generate calls get UNAVAILABLE so the gateway retries another replica, streams in flight keep
 * decoding until they end or the grace (TANDEM_SHUTDOWN_GRACE_SECONDS) runs out.
 */
class DecoderDrainingTest {
  private static final int VOCAB = 40;
  private final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void closeChannels() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** decoder-svc on a free localhost port over a fake model that takes 50 ms per decode step. */
  DecoderServer slowServer(Duration grace) throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 1000);
    DecoderServerConfig cfg =
        DecoderServerConfig.of(null, "cpu", "float32", 0, 2, 1000, 4, 1 << 20, 64);
    DecoderServer server =
        DecoderServer.start(
            lm,
            new DecoderServer.ModelInfo(GenerationDefaults.demo(7), 1000, VOCAB - 1),
            cfg,
            ServerHost.inProcess(
                    Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()))
                .withShutdownGrace(grace));
    lm.stepSleepMillis = 50; // after the warm-up
    return server;
  }

  DecoderServiceGrpc.DecoderServiceBlockingStub stub(DecoderServer server) {
    ManagedChannel c =
        Grpc.newChannelBuilder("localhost:" + server.port(), InsecureChannelCredentials.create())
            .build();
    channels.add(c);
    return DecoderServiceGrpc.newBlockingStub(c).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  static GenerateRequest tokens(int n) {
    return DecoderFaultsTest.tokens(n).toBuilder().setRequestId("drain").build();
  }

  /** Token count and final message of the rest of a stream. */
  record Rest(int tokens, GenerateFinal fin) {}

  static Rest rest(Iterator<GenerateResponse> it) {
    int n = 0;
    GenerateFinal fin = null;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasTokens()) n += r.getTokens().getIdsCount();
      else fin = r.getFinal();
    }
    return new Rest(n, fin);
  }

  @Test
  void aDrainingDecoderFinishesItsStreamInFlightAndRefusesANewGenerateWithUnavailable()
      throws Exception {
    DecoderServer server = slowServer(Duration.ofSeconds(20));
    var stub = stub(server);
    Iterator<GenerateResponse> inFlight = stub.generate(tokens(20)); // about 1 s of decoding
    GenerateResponse first = inFlight.next();
    assertTrue(first.hasTokens());
    long t = System.nanoTime();
    CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
    Thread.sleep(200); // let shutdown() reach the connection

    var e = assertThrows(StatusRuntimeException.class, () -> rest(stub.generate(tokens(2))));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());

    Rest rest = rest(inFlight);
    assertNotNull(rest.fin(), "the in-flight stream ended with its final message");
    assertEquals(FinishReason.FINISH_REASON_LENGTH, rest.fin().getFinishReason());
    assertEquals(
        20,
        first.getTokens().getIdsCount() + rest.tokens(),
        "every token of the in-flight stream arrived");
    closing.get(20, TimeUnit.SECONDS);
    double took = (System.nanoTime() - t) / 1e9;
    assertTrue(
        took < 10,
        "close() returned " + took + " s after the drain began, long after the stream ended");
  }

  @Test
  void aStreamLongerThanTheGraceIsCancelledWhenTheGraceEnds() throws Exception {
    DecoderServer server = slowServer(Duration.ofMillis(500));
    var stub = stub(server);
    Iterator<GenerateResponse> inFlight = stub.generate(tokens(400)); // about 20 s of decoding
    inFlight.next();
    long t = System.nanoTime();
    server.close();
    double took = (System.nanoTime() - t) / 1e9;
    assertTrue(took < 4, "close() took " + took + " s with a 0.5 s grace");
    var e = assertThrows(StatusRuntimeException.class, () -> rest(inFlight));
    assertTrue(
        e.getStatus().getCode() == Status.Code.UNAVAILABLE
            || e.getStatus().getCode() == Status.Code.CANCELLED,
        e.toString());
  }

  @Test
  void closeWithAnExplicitGraceReportsWhetherEveryStreamFinished() throws Exception {
    DecoderServer idle = slowServer(Duration.ofSeconds(20));
    // Nothing in flight: clean, and at once (a zero grace cannot work: the transports close
    // asynchronously)
    long t = System.nanoTime();
    assertTrue(idle.close(Duration.ofSeconds(10)), "nothing in flight: a clean drain");
    double took = (System.nanoTime() - t) / 1e9;
    assertTrue(took < 3, "an idle server took " + took + " s to drain");

    DecoderServer busy = slowServer(Duration.ofSeconds(20));
    Iterator<GenerateResponse> inFlight = stub(busy).generate(tokens(400));
    inFlight.next();
    assertFalse(busy.close(Duration.ofMillis(200)), "a stream had to be cancelled");
  }

  @Test
  void theNetworkStartTakesItsGraceFromTheEnvironmentAndRefusesABadOneBeforeLoading()
      throws Exception {
    DecoderServerConfig cfg =
        DecoderServerConfig.of(
            TinyCheckpoints.decoderTiny(), "cpu", "float32", 0, 1, 64, 4, 16 << 20, 64);
    var bad =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                DecoderServer.start(
                    cfg,
                    ServerHost.internal(
                        cfg.port(),
                        new Env(Map.of(CommonSettings.SHUTDOWN_GRACE_SECONDS.env(), "-3")),
                        Telemetry.noop())));
    assertTrue(
        bad.getMessage().contains(CommonSettings.SHUTDOWN_GRACE_SECONDS.env()), bad.getMessage());

    DecoderServer server =
        DecoderServer.start(
            cfg,
            ServerHost.internal(
                cfg.port(),
                new Env(Map.of(CommonSettings.SHUTDOWN_GRACE_SECONDS.env(), "7")),
                Telemetry.noop()));
    try {
      assertEquals(Duration.ofSeconds(7), server.shutdownGrace());
    } finally {
      server.close();
    }
  }
}
