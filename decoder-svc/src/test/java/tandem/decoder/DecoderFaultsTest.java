package tandem.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.ServerHost;
import tandem.common.testing.Probes;
import tandem.decoder.generate.FakeCausalLm;
import tandem.decoder.generate.GenerationDefaults;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * decoder-svc under faults (issue 15): an Error in one request ends that request and the scheduler
 * goes on; a loop that dies anyway turns health NOT_SERVING; shutdown frees the model only after
 * the forward pass in flight.
 */
class DecoderFaultsTest {
  private static final int VOCAB = 40;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<DecoderServer> servers = new ArrayList<>();

  /** The fake model with switches for Errors, and the times of its last decode and of its close. */
  static final class FaultyLm extends FakeCausalLm {
    final AtomicBoolean oomOnNextDecode = new AtomicBoolean();
    final AtomicBoolean errorOnRelease = new AtomicBoolean();
    final AtomicLong lastDecodeEnd = new AtomicLong();
    final AtomicLong closedAt = new AtomicLong();
    final AtomicBoolean inDecode = new AtomicBoolean();
    final AtomicBoolean decodingAtClose = new AtomicBoolean();

    FaultyLm() {
      super(VOCAB, 4, 2, 1000, null);
    }

    @Override
    public float[][] decode(int[] slotIds, int[] ids) {
      if (oomOnNextDecode.getAndSet(false))
        throw new OutOfMemoryError("Java heap space (simulated)");
      inDecode.set(true);
      try {
        return super.decode(slotIds, ids);
      } finally {
        lastDecodeEnd.set(System.nanoTime());
        inDecode.set(false);
      }
    }

    @Override
    public void release(int slot) {
      if (errorOnRelease.get())
        throw new InternalError("simulated failure outside any one request");
      super.release(slot);
    }

    @Override
    public void close() {
      decodingAtClose.set(inDecode.get());
      closedAt.set(System.nanoTime());
      super.close();
    }
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    for (DecoderServer s : servers) s.close(Duration.ZERO);
  }

  DecoderServer start(FaultyLm lm) throws Exception {
    DecoderServerConfig cfg =
        DecoderServerConfig.of(null, "cpu", "float32", 0, 2, 1000, 4, 1 << 20, 64);
    DecoderServer server =
        DecoderServer.start(
            lm,
            new DecoderServer.ModelInfo(GenerationDefaults.demo(7), 1000, VOCAB - 1),
            cfg,
            ServerHost.inProcess(
                    Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()))
                .withShutdownGrace(Duration.ofSeconds(5)));
    servers.add(server);
    return server;
  }

  ManagedChannel channel(DecoderServer server) {
    ManagedChannel c =
        Grpc.newChannelBuilder("localhost:" + server.port(), InsecureChannelCredentials.create())
            .build();
    channels.add(c);
    return c;
  }

  static GenerateRequest tokens(int n) {
    return GenerateRequest.newBuilder()
        .setRequestId("faults")
        .addInputIds(1)
        .addInputIds(2)
        .setParams(
            GenerationParams.newBuilder()
                .setMaxNewTokens(n)
                .setMinNewTokens(n)
                .setNoRepeatNgramSize(0))
        .build();
  }

  static GenerateFinal finalOf(Iterator<GenerateResponse> it) {
    GenerateFinal fin = null;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasFinal()) fin = r.getFinal();
    }
    return fin;
  }

  @Test
  void anOutOfMemoryErrorInOneDecodeStepEndsThatStreamAndTheSchedulerGoesOn() throws Exception {
    FaultyLm lm = new FaultyLm();
    DecoderServer server = start(lm);
    var stub =
        DecoderServiceGrpc.newBlockingStub(channel(server)).withDeadlineAfter(30, TimeUnit.SECONDS);
    lm.oomOnNextDecode.set(true);
    GenerateFinal failed =
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> finalOf(stub.generate(tokens(5))));
    assertEquals(FinishReason.FINISH_REASON_ERROR, failed.getFinishReason());
    assertTrue(failed.getError().contains("OutOfMemoryError"), failed.getError());
    GenerateFinal next =
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> finalOf(stub.generate(tokens(5))));
    assertEquals(FinishReason.FINISH_REASON_LENGTH, next.getFinishReason());
    assertEquals(5, next.getGeneratedTokens());
    assertEquals(ServingStatus.SERVING, Probes.health(channels.get(0)));
  }

  @Test
  void aSchedulerLoopThatDiesTurnsHealthNotServingAndRefusesNewCalls() throws Exception {
    FaultyLm lm = new FaultyLm();
    DecoderServer server = start(lm);
    ManagedChannel c = channel(server);
    var stub = DecoderServiceGrpc.newBlockingStub(c).withDeadlineAfter(30, TimeUnit.SECONDS);
    assertEquals(ServingStatus.SERVING, Probes.health(c));
    lm.errorOnRelease.set(
        true); // the end of the next sequence throws outside any per-request guard
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> finalOf(stub.generate(tokens(3))));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (Probes.health(c) != ServingStatus.NOT_SERVING && System.nanoTime() < until)
      Thread.sleep(20);
    assertEquals(
        ServingStatus.NOT_SERVING, Probes.health(c), "Kubernetes must see the pod as broken");
    var e = assertThrows(StatusRuntimeException.class, () -> finalOf(stub.generate(tokens(3))));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
  }

  @Test
  void shutdownFreesTheModelOnlyAfterTheForwardPassInFlight() throws Exception {
    FaultyLm lm = new FaultyLm();
    DecoderServer server = start(lm);
    servers.remove(server);
    var stub =
        DecoderServiceGrpc.newBlockingStub(channel(server)).withDeadlineAfter(30, TimeUnit.SECONDS);
    lm.stepSleepMillis = 800;
    Iterator<GenerateResponse> it = stub.generate(tokens(50));
    it.next(); // streaming: a decode step of 800 ms is running or about to
    Thread.sleep(100);
    server.close(
        Duration
            .ZERO); // no grace: the stream is cut, but the pass in flight must end before the free
    assertTrue(lm.closedAt.get() > 0, "the model was freed");
    assertTrue(lm.closedAt.get() >= lm.lastDecodeEnd.get(), "freed after the last decode returned");
    // the check above alone holds too when the model is freed mid-pass (lastDecodeEnd is then an
    // earlier step's): no pass may be running when close() is called
    assertTrue(lm.lastDecodeEnd.get() > 0, "a decode step ran before the close");
    assertTrue(!lm.decodingAtClose.get(), "the model was freed while a forward pass was running");
  }
}
