package tandem.common.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.security.TlsSettings;
import tandem.common.testing.TestCerts;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * Connections and auth on real localhost ports (issue 15): streams per connection, connection age
 * with its grace, reflection behind the services' interceptors (health open), and the internal mTLS
 * allow-list of peer names.
 */
class ConnectionsAndAuthTest {
  @TempDir Path dir;
  final List<ServerBootstrap> servers = new ArrayList<>();
  final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    for (ServerBootstrap s : servers)
      s.server().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /**
   * Embed answers at once, or blocks until {@code gate} opens when set; counts handlers entered.
   */
  static final class Service extends VisionServiceGrpc.VisionServiceImplBase {
    final AtomicInteger entered = new AtomicInteger();
    final CountDownLatch gate;

    Service(CountDownLatch gate) {
      this.gate = gate;
    }

    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
      entered.incrementAndGet();
      if (gate != null) {
        try {
          gate.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      out.onNext(EmbedResponse.getDefaultInstance());
      out.onCompleted();
    }
  }

  ServerBootstrap serve(
      io.grpc.ServerBuilder<?> b, List<ServerInterceptor> interceptors, Service svc)
      throws Exception {
    ServerBootstrap s = ServerBootstrap.start(b, 1 << 20, interceptors, svc);
    s.setServing();
    servers.add(s);
    return s;
  }

  ManagedChannel channel(int port, ChannelCredentials creds) {
    ManagedChannel c = Grpc.newChannelBuilder("localhost:" + port, creds).build();
    channels.add(c);
    return c;
  }

  static io.grpc.ServerBuilder<?> plain() {
    return Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create());
  }

  @Test
  void oneConnectionGetsAtMostItsStreamLimitAtOnce() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    Service svc = new Service(gate);
    ServerBootstrap s =
        serve(
            ServerBootstrap.withConnectionLimits(
                plain(), new ServerBootstrap.ConnectionLimits(60, 20, 0, 0, 1)),
            List.of(),
            svc);
    var stub =
        VisionServiceGrpc.newFutureStub(channel(s.port(), InsecureChannelCredentials.create()));
    var first = stub.embed(EmbedRequest.getDefaultInstance());
    var second = stub.embed(EmbedRequest.getDefaultInstance());
    Thread.sleep(500);
    assertEquals(
        1, svc.entered.get(), "the second stream waits for the first: one stream per connection");
    gate.countDown();
    first.get(10, TimeUnit.SECONDS);
    second.get(10, TimeUnit.SECONDS);
    assertEquals(2, svc.entered.get());
  }

  @Test
  void aConnectionPastItsAgeAndGraceIsClosedUnderAHangingCall() throws Exception {
    Service svc = new Service(new CountDownLatch(1)); // never opens
    ServerBootstrap s =
        serve(
            ServerBootstrap.withConnectionLimits(
                plain(), new ServerBootstrap.ConnectionLimits(60, 20, 1, 1, 100)),
            List.of(),
            svc);
    var stub =
        VisionServiceGrpc.newBlockingStub(channel(s.port(), InsecureChannelCredentials.create()));
    StatusRuntimeException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(15),
            () ->
                assertThrows(
                    StatusRuntimeException.class,
                    () -> stub.embed(EmbedRequest.getDefaultInstance())));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
  }

  @Test
  void connectionSettingsComeFromTheEnvironmentAndBadValuesAreRefused() {
    var c =
        ServerBootstrap.ConnectionLimits.fromEnv(
            new Env(
                Map.of(
                    CommonSettings.MAX_STREAMS_PER_CONNECTION.env(),
                    "7",
                    CommonSettings.MAX_CONNECTION_AGE_SECONDS.env(),
                    "0")));
    assertEquals(7, c.maxStreamsPerConnection());
    assertEquals(CommonSettings.KEEPALIVE_SECONDS.defaultValue(), c.keepAliveSeconds());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ServerBootstrap.ConnectionLimits.fromEnv(
                new Env(Map.of(CommonSettings.MAX_STREAMS_PER_CONNECTION.env(), "0"))));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ServerBootstrap.ConnectionLimits.fromEnv(
                new Env(Map.of(CommonSettings.KEEPALIVE_SECONDS.env(), "-1"))));
  }

  @Test
  void reflectionFollowsTheServicesAuthWhileHealthStaysOpen() throws Exception {
    ServerInterceptor denyAll =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            call.close(Status.UNAUTHENTICATED.withDescription("no token"), new Metadata());
            return new ServerCall.Listener<>() {};
          }
        };
    ServerBootstrap s = serve(plain(), List.of(denyAll), new Service(null));
    ManagedChannel c = channel(s.port(), InsecureChannelCredentials.create());
    assertEquals(
        io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING,
        HealthGrpc.newBlockingStub(c).check(HealthCheckRequest.getDefaultInstance()).getStatus());
    CompletableFuture<Throwable> failed = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> req =
        ServerReflectionGrpc.newStub(c)
            .serverReflectionInfo(
                new StreamObserver<ServerReflectionResponse>() {
                  @Override
                  public void onNext(ServerReflectionResponse r) {
                    failed.complete(null);
                  }

                  @Override
                  public void onError(Throwable t) {
                    failed.complete(t);
                  }

                  @Override
                  public void onCompleted() {
                    failed.complete(null);
                  }
                });
    req.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    Throwable t = failed.get(10, TimeUnit.SECONDS);
    assertEquals(Status.Code.UNAUTHENTICATED, Status.fromThrowable(t).getCode(), String.valueOf(t));
  }

  @Test
  void internalMtlsServesOnlyAllowedPeerNames() throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem server = TestCerts.leaf(dir, "vision", ca);
    TestCerts.Pem gateway = TestCerts.leaf(dir, "gateway", ca);
    TestCerts.Pem intruder = TestCerts.leaf(dir, "intruder", ca); // same CA, other workload
    Env env =
        new Env(
            Map.of(
                CommonSettings.TLS_CERT.env(), server.cert().toString(),
                CommonSettings.TLS_KEY.env(), server.key().toString(),
                CommonSettings.TLS_CLIENT_CA.env(), ca.cert().toString(),
                CommonSettings.TLS_CLIENT_AUTH.env(), "require",
                CommonSettings.TLS_ALLOWED_PEERS.env(), "gateway, other-gateway"));
    ServerBootstrap s =
        serve(TlsSettings.internalServerBuilder(0, env), List.of(), new Service(null));
    var ok =
        VisionServiceGrpc.newBlockingStub(channel(s.port(), creds(ca, gateway)))
            .withDeadlineAfter(10, TimeUnit.SECONDS);
    ok.embed(EmbedRequest.getDefaultInstance());
    ManagedChannel bad = channel(s.port(), creds(ca, intruder));
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                VisionServiceGrpc.newBlockingStub(bad)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .embed(EmbedRequest.getDefaultInstance()));
    assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
    String d = e.getStatus().getDescription();
    assertTrue(d.contains("intruder") && d.contains(CommonSettings.TLS_ALLOWED_PEERS.env()), d);
    // probes still get health
    HealthGrpc.newBlockingStub(bad)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
    // and an allow-list without a client CA is a configuration error, not a silent no-op
    var noCa =
        new Env(
            Map.of(
                CommonSettings.TLS_CERT.env(),
                server.cert().toString(),
                CommonSettings.TLS_KEY.env(),
                server.key().toString(),
                CommonSettings.TLS_ALLOWED_PEERS.env(),
                "gateway"));
    var cfg =
        assertThrows(
            IllegalArgumentException.class, () -> TlsSettings.internalServerBuilder(0, noCa));
    assertFalse(cfg.getMessage().isBlank());
  }

  static ChannelCredentials creds(TestCerts.Pem ca, TestCerts.Pem client) throws Exception {
    return new TlsSettings(client.cert(), client.key(), ca.cert(), false, 60)
        .channelCredentials()
        .credentials();
  }
}
