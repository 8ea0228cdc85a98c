package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.Draining;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.testing.ChatRequests;
import tandem.gateway.backend.Backends;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.testing.SharedTokenizer;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.types.v1.FinishReason;

/**
 * Backend faults the gateway must survive (slow, stopped, restarted on a real localhost port) and
 * graceful draining. Complements ChatServiceTest (backend down, decoder dying mid-stream, cancel
 * and deadline propagation).
 */
class FaultsAndDrainingTest {
  final List<Server> servers = new ArrayList<>();
  final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    for (Server s : servers) s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  static GatewayModel model() {
    return new GatewayModel(SharedTokenizer.get(), 64, 151655);
  }

  static ChatRequest hi() {
    return ChatRequests.user("hi").build();
  }

  static List<ChatChunk> drain(Iterator<ChatChunk> it) {
    List<ChatChunk> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  Server onPort(int port, io.grpc.BindableService svc) throws Exception {
    Server s =
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
            .addService(svc)
            .build()
            .start();
    servers.add(s);
    return s;
  }

  ManagedChannel tcp(int port) {
    ManagedChannel c =
        Grpc.newChannelBuilder("localhost:" + port, InsecureChannelCredentials.create()).build();
    channels.add(c);
    return c;
  }

  ManagedChannel inproc(String name) {
    ManagedChannel c = InProcessChannelBuilder.forName(name).build();
    channels.add(c);
    return c;
  }

  /** A gateway on an in-process server whose decoder is at {@code decoder}. */
  ChatServiceGrpc.ChatServiceBlockingStub gatewayOver(ManagedChannel decoder) throws Exception {
    ChatPipeline gw =
        Backends.of(inproc("nobody"), "vision-svc", decoder, "decoder-svc (test)")
            .pipeline(model());
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn).addService(new ChatGrpcService(gw)).build().start());
    return ChatServiceGrpc.newBlockingStub(inproc(gn));
  }

  @Test
  void aSlowDecoderGivesDeadlineExceededWithinTheDeadlineAndIsCancelled() throws Exception {
    // the decoder never answers; the client allows 500 ms
    var d =
        new tandem.proto.decoder.v1.DecoderServiceGrpc.DecoderServiceImplBase() {
          final java.util.concurrent.CountDownLatch cancelled =
              new java.util.concurrent.CountDownLatch(1);

          @Override
          public void generate(
              tandem.proto.decoder.v1.GenerateRequest req,
              io.grpc.stub.StreamObserver<tandem.proto.decoder.v1.GenerateResponse> out) {
            ((io.grpc.stub.ServerCallStreamObserver<?>) out)
                .setOnCancelHandler(cancelled::countDown);
          }
        };
    Server ds = onPort(0, d);
    var stub = gatewayOver(tcp(ds.getPort()));
    long t = System.nanoTime();
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () -> drain(stub.withDeadlineAfter(500, TimeUnit.MILLISECONDS).chat(hi())));
    double took = (System.nanoTime() - t) / 1e9;
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode(), e.toString());
    assertTrue(took < 2.0, "answered after " + took + " s");
    assertTrue(
        d.cancelled.await(5, TimeUnit.SECONDS),
        "the deadline reached decoder-svc and cancelled its call");
  }

  @Test
  void aStoppedDecoderIsUnavailableNamingItAndARestartedOneServesAgainWithoutRestartingTheGateway()
      throws Exception {
    int[] answer = {9707};
    Server first = onPort(0, new FakeBackends.Decoder(answer, 0, -1, false));
    int port = first.getPort();
    var stub = gatewayOver(tcp(port));
    assertEquals(
        FinishReason.FINISH_REASON_STOP, last(drain(stub.chat(hi()))).getFinal().getFinishReason());

    first.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    long t = System.nanoTime();
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () -> drain(stub.withDeadlineAfter(5, TimeUnit.SECONDS).chat(hi())));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    assertTrue(
        e.getStatus().getDescription().contains("decoder-svc (test)"),
        e.getStatus().getDescription());
    assertTrue((System.nanoTime() - t) / 1e9 < 5);

    onPort(port, new FakeBackends.Decoder(answer, 0, -1, false));
    // the channel reconnects by itself (gRPC backoff starts at 1 s); calls succeed again within a
    // few seconds
    long until = System.nanoTime() + 15_000_000_000L;
    while (true) {
      try {
        assertEquals(
            FinishReason.FINISH_REASON_STOP,
            last(drain(stub.withDeadlineAfter(5, TimeUnit.SECONDS).chat(hi())))
                .getFinal()
                .getFinishReason());
        break;
      } catch (StatusRuntimeException again) {
        assertEquals(Status.Code.UNAVAILABLE, again.getStatus().getCode(), again.toString());
        if (System.nanoTime() > until) throw again;
        Thread.sleep(100);
      }
    }
  }

  static ChatChunk last(List<ChatChunk> chunks) {
    return chunks.get(chunks.size() - 1);
  }

  /**
   * A gateway behind a ServerBootstrap (health + draining) over a decoder streaming {@code tokens}
   * at 50 ms each.
   */
  record Drained(ServerBootstrap boot, ChatServiceGrpc.ChatServiceBlockingStub stub) {}

  Drained drainableGateway(int tokens) throws Exception {
    int[] ids = new int[tokens];
    java.util.Arrays.fill(ids, 9707);
    String dn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(dn)
            .addService(new FakeBackends.Decoder(ids, 50, -1, false))
            .build()
            .start());
    ChatPipeline gw =
        Backends.of(inproc("nobody"), "vision-svc", inproc(dn), "decoder-svc").pipeline(model());
    int port;
    try (var probe = new java.net.ServerSocket(0)) {
      port = probe.getLocalPort();
    }
    ServerBootstrap boot =
        ServerBootstrap.start(
            Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()),
            1 << 20,
            List.of(),
            new ChatGrpcService(gw));
    servers.add(boot.server());
    boot.setServing();
    return new Drained(boot, ChatServiceGrpc.newBlockingStub(tcp(boot.port())));
  }

  @Test
  void aDrainingGatewayFinishesItsStreamsAndRefusesNewCallsWithUnavailable() throws Exception {
    Drained g = drainableGateway(20); // about 1 s of streaming
    Iterator<ChatChunk> inFlight = g.stub().chat(hi());
    inFlight.next();
    CompletableFuture<Boolean> drained =
        CompletableFuture.supplyAsync(() -> Draining.drain(g.boot(), Duration.ofSeconds(10)));
    Thread.sleep(100); // let shutdown() take effect
    var e = assertThrows(StatusRuntimeException.class, () -> drain(g.stub().chat(hi())));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    List<ChatChunk> rest = drain(inFlight);
    assertEquals(
        FinishReason.FINISH_REASON_STOP,
        last(rest).getFinal().getFinishReason(),
        "the in-flight stream ran to its end");
    assertTrue(drained.get(10, TimeUnit.SECONDS), "everything finished within the grace period");
  }

  @Test
  void aStreamLongerThanTheGracePeriodIsCutWhenTheGraceEnds() throws Exception {
    Drained g = drainableGateway(400); // 20 s of streaming
    Iterator<ChatChunk> inFlight = g.stub().chat(hi());
    inFlight.next();
    long t = System.nanoTime();
    boolean clean = Draining.drain(g.boot(), Duration.ofMillis(500));
    double took = (System.nanoTime() - t) / 1e9;
    assertFalse(clean);
    assertTrue(took < 3, "drain took " + took + " s for a 0.5 s grace");
    var e = assertThrows(StatusRuntimeException.class, () -> drain(inFlight));
    assertTrue(
        e.getStatus().getCode() == Status.Code.UNAVAILABLE
            || e.getStatus().getCode() == Status.Code.CANCELLED,
        e.toString());
  }
}
