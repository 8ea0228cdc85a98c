package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.security.BearerTokenAuth;
import tandem.common.security.TlsSettings;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.TestCerts;
import tandem.gateway.backend.Backends;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.testing.SharedTokenizer;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.types.v1.FinishReason;

/**
 * TLS, certificate reload, bearer tokens and mTLS on real localhost ports with certificates made in
 * the test.
 */
class EdgeSecurityTest {
  @TempDir Path dir;
  final List<Server> servers = new ArrayList<>();
  final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    for (Server s : servers) s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  static ChatRequest hi() {
    return ChatRequests.user("hi").build();
  }

  /** A Chat gateway (fake in-process decoder) on a localhost port secured by {@code security}. */
  int serveChat(EdgeSecurity security) throws Exception {
    String dn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(dn)
            .addService(new FakeBackends.Decoder(new int[] {9707}, 0, -1, false))
            .build()
            .start());
    ManagedChannel dc = InProcessChannelBuilder.forName(dn).build();
    channels.add(dc);
    ChatPipeline gw =
        Backends.of(dc, "vision-svc", dc, "decoder-svc")
            .pipeline(new GatewayModel(SharedTokenizer.get(), 64, 151655));
    ServerInterceptor noop =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> io.grpc.ServerCall.Listener<ReqT> interceptCall(
              io.grpc.ServerCall<ReqT, RespT> call,
              Metadata headers,
              io.grpc.ServerCallHandler<ReqT, RespT> next) {
            return next.startCall(call, headers);
          }
        };
    Server s =
        Grpc.newServerBuilderForPort(0, security.serverCredentials())
            .addService(
                ServerInterceptors.intercept(
                    new ChatGrpcService(gw), security.interceptors(noop, noop)))
            .build()
            .start();
    servers.add(s);
    return s.getPort();
  }

  ChatServiceGrpc.ChatServiceBlockingStub client(int port, ChannelCredentials creds, String token) {
    ManagedChannel c = Grpc.newChannelBuilder("localhost:" + port, creds).build();
    channels.add(c);
    var stub = ChatServiceGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS);
    if (token == null) return stub;
    Metadata h = new Metadata();
    h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  static FinishReason finish(ChatServiceGrpc.ChatServiceBlockingStub stub) {
    List<ChatChunk> all = new ArrayList<>();
    stub.chat(hi()).forEachRemaining(all::add);
    return all.get(all.size() - 1).getFinal().getFinishReason();
  }

  static ChannelCredentials trusting(TestCerts.Pem ca, TestCerts.Pem clientCert) throws Exception {
    return new TlsSettings(
            clientCert == null ? null : clientCert.cert(),
            clientCert == null ? null : clientCert.key(),
            ca.cert(),
            false,
            60)
        .channelCredentials()
        .credentials();
  }

  static Status.Code code(Runnable r) {
    return assertThrows(StatusRuntimeException.class, r::run).getStatus().getCode();
  }

  @Test
  void overTlsTheRightBearerTokenIsServedAndMissingOrWrongTokensAreUnauthenticated()
      throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem server = TestCerts.leaf(dir, "server", ca);
    Path tokens = dir.resolve("tokens");
    Files.writeString(tokens, "# one per line\nsecret-1\n");
    int port =
        serveChat(
            EdgeSecurity.of(
                new TlsSettings(server.cert(), server.key(), null, false, 60),
                TlsSettings.none(),
                new BearerTokenAuth(tokens, List.of())));
    ChannelCredentials tls = trusting(ca, null);

    assertEquals(FinishReason.FINISH_REASON_STOP, finish(client(port, tls, "Bearer secret-1")));
    var e = assertThrows(StatusRuntimeException.class, () -> finish(client(port, tls, null)));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("Bearer <token>"), e.getStatus().getDescription());
    assertEquals(
        Status.Code.UNAUTHENTICATED, code(() -> finish(client(port, tls, "Bearer secret-2"))));
    assertEquals(
        Status.Code.UNAUTHENTICATED, code(() -> finish(client(port, tls, "Basic c2VjcmV0LTE="))));

    // the token file is re-read when it changes: rotate secret-1 out and secret-2 in, no restart
    Thread.sleep(1100); // file times may have 1 s resolution
    Files.writeString(tokens, "secret-2\n");
    assertEquals(FinishReason.FINISH_REASON_STOP, finish(client(port, tls, "Bearer secret-2")));
    assertEquals(
        Status.Code.UNAUTHENTICATED, code(() -> finish(client(port, tls, "Bearer secret-1"))));
  }

  @Test
  void aPlaintextClientCannotTalkToATlsGateway() throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem server = TestCerts.leaf(dir, "server", ca);
    int port =
        serveChat(
            EdgeSecurity.of(
                new TlsSettings(server.cert(), server.key(), null, false, 60),
                TlsSettings.none(),
                null));
    assertEquals(
        Status.Code.UNAVAILABLE,
        code(() -> finish(client(port, io.grpc.InsecureChannelCredentials.create(), null))));
    // and a TLS client that does not trust the server's CA refuses it
    TestCerts.Pem other = TestCerts.ca(dir, "other-ca");
    assertEquals(
        Status.Code.UNAVAILABLE,
        code(
            () -> {
              try {
                finish(client(port, trusting(other, null), null));
              } catch (StatusRuntimeException e) {
                throw e;
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            }));
  }

  @Test
  void withMtlsRequiredAClientCertFromTheCaIsServedAndNoCertIsUnauthenticated() throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem server = TestCerts.leaf(dir, "server", ca);
    TestCerts.Pem clientCa = TestCerts.ca(dir, "client-ca");
    TestCerts.Pem gateway = TestCerts.leaf(dir, "gateway", clientCa);
    TestCerts.Pem rogueCa = TestCerts.ca(dir, "rogue-ca");
    TestCerts.Pem rogue = TestCerts.leaf(dir, "rogue", rogueCa);
    int port =
        serveChat(
            EdgeSecurity.of(
                new TlsSettings(server.cert(), server.key(), clientCa.cert(), true, 60),
                TlsSettings.none(),
                null));

    assertEquals(
        FinishReason.FINISH_REASON_STOP, finish(client(port, trusting(ca, gateway), null)));
    var e =
        assertThrows(
            StatusRuntimeException.class, () -> finish(client(port, trusting(ca, null), null)));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.toString());
    assertTrue(
        e.getStatus().getDescription().contains("client certificate"),
        e.getStatus().getDescription());
    // a certificate from another CA fails the handshake: the call never reaches the service
    ChannelCredentials rogueCreds = trusting(ca, rogue);
    Status.Code c = code(() -> finish(client(port, rogueCreds, null)));
    assertTrue(c == Status.Code.UNAVAILABLE || c == Status.Code.UNAUTHENTICATED, c.toString());
  }

  @Test
  void aReplacedCertificateFileIsServedWithoutARestart() throws Exception {
    TestCerts.Pem caA = TestCerts.ca(dir, "ca-a");
    TestCerts.Pem caB = TestCerts.ca(dir, "ca-b");
    TestCerts.Pem a = TestCerts.leaf(dir, "server-a", caA);
    TestCerts.Pem b = TestCerts.leaf(dir, "server-b", caB);
    Path cert = dir.resolve("tls.crt");
    Path key = dir.resolve("tls.key");
    Files.copy(a.cert(), cert);
    Files.copy(a.key(), key);
    int port =
        serveChat(
            EdgeSecurity.of(new TlsSettings(cert, key, null, false, 1), TlsSettings.none(), null));
    assertEquals(FinishReason.FINISH_REASON_STOP, finish(client(port, trusting(caA, null), null)));

    // rotate: the files now hold B; within the reload period new connections see B
    Files.copy(b.key(), key, StandardCopyOption.REPLACE_EXISTING);
    Files.copy(b.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
    long until = System.nanoTime() + 15_000_000_000L;
    while (true) {
      try {
        assertEquals(
            FinishReason.FINISH_REASON_STOP, finish(client(port, trusting(caB, null), null)));
        break;
      } catch (StatusRuntimeException e) {
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
        if (System.nanoTime() > until) throw e;
        Thread.sleep(250);
      }
    }
    // and clients that only trust the old CA are now refused
    assertEquals(
        Status.Code.UNAVAILABLE,
        code(
            () -> {
              try {
                finish(client(port, trusting(caA, null), null));
              } catch (StatusRuntimeException e) {
                throw e;
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            }));
  }

  @Test
  void anInternalServiceRequiringMtlsServesTheGatewaysBackendChannelOnly() throws Exception {
    // decoder-svc side: TLS with client certificates required; gateway side: TANDEM_BACKEND_TLS_*
    // credentials
    TestCerts.Pem ca = TestCerts.ca(dir, "internal-ca");
    TestCerts.Pem decoderCert = TestCerts.leaf(dir, "decoder", ca);
    TestCerts.Pem gatewayCert = TestCerts.leaf(dir, "gateway", ca);
    TlsSettings decoderTls =
        new TlsSettings(decoderCert.cert(), decoderCert.key(), ca.cert(), true, 60);
    Server d =
        Grpc.newServerBuilderForPort(0, decoderTls.serverCredentials().credentials())
            .addService(
                ServerInterceptors.intercept(
                    new FakeBackends.Decoder(new int[] {9707}, 0, -1, false),
                    decoderTls.interceptors()))
            .build()
            .start();
    servers.add(d);
    EdgeSecurity withCert =
        EdgeSecurity.of(
            TlsSettings.none(),
            new TlsSettings(gatewayCert.cert(), gatewayCert.key(), ca.cert(), false, 60),
            null);
    EdgeSecurity withoutCert =
        EdgeSecurity.of(
            TlsSettings.none(), new TlsSettings(null, null, ca.cert(), false, 60), null);
    assertEquals(FinishReason.FINISH_REASON_STOP, finish(gatewayTo(d.getPort(), withCert)));
    var e =
        assertThrows(
            StatusRuntimeException.class, () -> finish(gatewayTo(d.getPort(), withoutCert)));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), e.toString());
  }

  /**
   * An in-process gateway whose decoder channel goes to localhost:{@code port} with the backend
   * credentials.
   */
  ChatServiceGrpc.ChatServiceBlockingStub gatewayTo(int port, EdgeSecurity security)
      throws Exception {
    ManagedChannel dc =
        Grpc.newChannelBuilder("localhost:" + port, security.backendCredentials()).build();
    channels.add(dc);
    ChatPipeline gw =
        Backends.of(dc, "vision-svc", dc, "decoder-svc")
            .pipeline(new GatewayModel(SharedTokenizer.get(), 64, 151655));
    String gn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(gn).addService(new ChatGrpcService(gw)).build().start());
    ManagedChannel c = InProcessChannelBuilder.forName(gn).build();
    channels.add(c);
    return ChatServiceGrpc.newBlockingStub(c).withDeadlineAfter(10, TimeUnit.SECONDS);
  }
}
