package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.decoder.v1.TokenIds;

/** The decoder router against fake replicas on in-process transports. */
class DecoderRouterTest {
  static final PrefixKey KEY = new PrefixKey(1, 2, new int[] {3});
  final List<Server> servers = new ArrayList<>();
  final List<AutoCloseable> closeables = new ArrayList<>();
  final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

  /**
   * How a replica behaves: "ok" (a token and a final message reporting no load), "busy" (the same,
   * reporting 3 running, 2 queued and half its KV cache), "refuse" (UNAVAILABLE at once) or "die"
   * (a token, then UNAVAILABLE).
   */
  final Map<String, String> mode = new ConcurrentHashMap<>();

  void fake(String ip) throws Exception {
    calls.put(ip, new AtomicInteger());
    mode.put(ip, "ok");
    servers.add(
        InProcessServerBuilder.forName(ip)
            .directExecutor()
            .addService(
                new DecoderServiceGrpc.DecoderServiceImplBase() {
                  @Override
                  public void generate(GenerateRequest r, StreamObserver<GenerateResponse> out) {
                    calls.get(ip).incrementAndGet();
                    switch (mode.get(ip)) {
                      case "refuse" ->
                          out.onError(
                              Status.UNAVAILABLE.withDescription("draining").asRuntimeException());
                      case "die" -> {
                        out.onNext(
                            GenerateResponse.newBuilder()
                                .setTokens(TokenIds.newBuilder().addIds(42))
                                .build());
                        out.onError(
                            Status.UNAVAILABLE.withDescription("gone").asRuntimeException());
                      }
                      default -> {
                        out.onNext(
                            GenerateResponse.newBuilder()
                                .setRequestId(ip)
                                .setTokens(TokenIds.newBuilder().addIds(7))
                                .build());
                        GenerateFinal.Builder f = GenerateFinal.newBuilder();
                        if (mode.get(ip).equals("busy"))
                          f.setRunningSequences(3).setQueuedRequests(2).setKvCacheUsage(0.5);
                        out.onNext(
                            GenerateResponse.newBuilder().setRequestId(ip).setFinal(f).build());
                        out.onCompleted();
                      }
                    }
                  }
                })
            .build()
            .start());
  }

  DecoderRouter router(List<String> ips) throws Exception {
    for (String ip : ips) fake(ip);
    EndpointPool p =
        new EndpointPool(
            "decoder-svc",
            BackendTarget.parse(
                "TANDEM_DECODER_ADDR",
                String.join(",", ips.stream().map(ip -> ip + ":50053").toList())),
            (address, authority) ->
                InProcessChannelBuilder.forName(address.getAddress().getHostAddress())
                    .directExecutor()
                    .build(),
            host -> new InetAddress[] {InetAddress.getByName(host)},
            Duration.ofMinutes(1));
    closeables.add(p);
    return new DecoderRouter(p, KEY, 1.25, Duration.ofSeconds(30));
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closeables) c.close();
    for (Server s : servers) s.shutdownNow();
  }

  static GenerateRequest conversation(int question) {
    return GenerateRequest.newBuilder()
        .addAllInputIds(List.of(1, 4, 0, 10 + question, 2, 0, 1, 5, 0))
        .build();
  }

  static String served(Iterator<GenerateResponse> it) {
    String by = null;
    while (it.hasNext()) by = it.next().getRequestId();
    return by;
  }

  String owner(GenerateRequest r, List<String> ips) {
    String id = Rendezvous.ownerOf(KEY.key(r), ips.stream().map(ip -> ip + ":50053").toList());
    return id.substring(0, id.indexOf(':'));
  }

  @Test
  void everyTurnOfAConversationGoesToItsOwnerWhileItIsNotLoaded() throws Exception {
    List<String> ips = List.of("10.8.0.1", "10.8.0.2", "10.8.0.3");
    DecoderRouter router = router(ips);
    GenerateRequest r = conversation(1);
    for (int i = 0; i < 5; i++)
      assertEquals(owner(r, ips), served(DecoderServiceGrpc.newBlockingStub(router).generate(r)));
  }

  @Test
  void aReplicasLoadReportMovesNewConversationsAwayFromItUntilItExpires() throws Exception {
    List<String> ips = List.of("10.8.5.1", "10.8.5.2");
    DecoderRouter router = router(ips);
    GenerateRequest r = conversation(5);
    String owner = owner(r, ips);
    mode.put(owner, "busy");
    assertEquals(owner, served(DecoderServiceGrpc.newBlockingStub(router).generate(r)));
    Endpoint e =
        router.pool().endpoints().stream()
            .filter(x -> x.id().startsWith(owner + ":"))
            .findFirst()
            .orElseThrow();
    assertEquals(3, e.report().runningSequences());
    assertEquals(0, e.inFlight());
    assertEquals(5.5, router.load(e), 1e-9, "max(open here 0, running 3 + queued 2) + kv 0.5");
    String next = served(DecoderServiceGrpc.newBlockingStub(router).generate(r));
    assertTrue(!next.equals(owner), "the owner reported 5.5 against 0: over the bound");
    DecoderRouter forgetful = new DecoderRouter(router.pool(), KEY, 1.25, Duration.ZERO);
    assertEquals(0, forgetful.load(e), 1e-9, "an expired report counts for nothing");
  }

  @Test
  void aRefusalBeforeAnyAnswerIsPlacedAgainOnTheNextReplica() throws Exception {
    List<String> ips = List.of("10.8.1.1", "10.8.1.2");
    DecoderRouter router = router(ips);
    GenerateRequest r = conversation(2);
    String first = owner(r, ips);
    mode.put(first, "refuse");
    String by = served(DecoderServiceGrpc.newBlockingStub(router).generate(r));
    assertTrue(!by.equals(first) && ips.contains(by), by);
    assertEquals(1, calls.get(first).get());
  }

  @Test
  void aFailureAfterTokensReachesTheCallerAndIsNotRepeated() throws Exception {
    List<String> ips = List.of("10.8.2.1", "10.8.2.2");
    DecoderRouter router = router(ips);
    GenerateRequest r = conversation(3);
    String first = owner(r, ips);
    mode.put(first, "die");
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> served(DecoderServiceGrpc.newBlockingStub(router).generate(r)));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    int total = calls.values().stream().mapToInt(AtomicInteger::get).sum();
    assertEquals(1, total, "tokens were streamed: no second placement");
  }

  @Test
  void whenEveryReplicaRefusesTheCallerGetsTheLastRefusal() throws Exception {
    List<String> ips = List.of("10.8.3.1", "10.8.3.2");
    DecoderRouter router = router(ips);
    ips.forEach(ip -> mode.put(ip, "refuse"));
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> served(DecoderServiceGrpc.newBlockingStub(router).generate(conversation(4))));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("draining"), e.getStatus().getDescription());
    assertEquals(2, calls.values().stream().mapToInt(AtomicInteger::get).sum());
  }
}
