package tandem.common.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.security.TlsSettings;
import tandem.common.testing.Probes;
import tandem.common.testing.TestCerts;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * The plaintext health-only port next to a TLS service port (what Kubernetes' native gRPC probes
 * need): it answers grpc.health.v1 from the service's statuses and refuses everything else, on real
 * localhost ports.
 */
class HealthOnlyPortTest {
  @TempDir Path dir;
  final List<ManagedChannel> channels = new ArrayList<>();
  ServerBootstrap boot;

  @AfterEach
  void stop() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (boot != null) boot.server().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** A stand-in vision-svc: every Embed answers an empty response. */
  static final class Vision extends VisionServiceGrpc.VisionServiceImplBase {
    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
      out.onNext(EmbedResponse.getDefaultInstance());
      out.onCompleted();
    }
  }

  ManagedChannel channel(int port, ChannelCredentials creds) {
    ManagedChannel c = Grpc.newChannelBuilder("localhost:" + port, creds).build();
    channels.add(c);
    return c;
  }

  /**
   * vision-svc-like server: TLS on its service port, health-only plaintext server on another port.
   */
  ChannelCredentials startTlsServerWithHealthPort() throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem leaf = TestCerts.leaf(dir, "vision", ca);
    TlsSettings tls = new TlsSettings(leaf.cert(), leaf.key(), null, false, 60);
    boot =
        ServerBootstrap.start(
            Grpc.newServerBuilderForPort(0, tls.serverCredentials().credentials()),
            1 << 20,
            List.of(),
            new Vision());
    boot.serveHealthOnly(Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()));
    return new TlsSettings(null, null, ca.cert(), false, 60).channelCredentials().credentials();
  }

  @Test
  void theHealthPortAnswersInPlaintextWithTheServicesStatusWhileTheServicePortNeedsTls()
      throws Exception {
    ChannelCredentials tls = startTlsServerWithHealthPort();
    ManagedChannel health =
        channel(boot.healthOnlyServer().getPort(), InsecureChannelCredentials.create());
    ManagedChannel service = channel(boot.port(), tls);

    assertEquals(
        ServingStatus.NOT_SERVING, Probes.health(health), "before warm-up, as on the service port");
    boot.setServing();
    assertEquals(ServingStatus.SERVING, Probes.health(health));
    assertEquals(ServingStatus.SERVING, Probes.health(service));
    assertEquals(Status.Code.OK, Probes.embedCode(service));
    // the kubelet's plaintext probe could not use the service port itself
    assertEquals(
        Status.Code.UNAVAILABLE,
        Probes.embedCode(channel(boot.port(), InsecureChannelCredentials.create())));

    boot.enterDraining();
    assertEquals(
        ServingStatus.NOT_SERVING, Probes.health(health), "draining shows on the health port too");
  }

  @Test
  void theHealthPortRefusesTheRealServicesAndReflectionAsUnimplemented() throws Exception {
    startTlsServerWithHealthPort();
    boot.setServing();
    ManagedChannel health =
        channel(boot.healthOnlyServer().getPort(), InsecureChannelCredentials.create());
    assertEquals(
        Status.Code.UNIMPLEMENTED,
        Probes.embedCode(health),
        "no Embed without TLS through the back door");

    // reflection would list the services; it is not there either
    CountDownLatch done = new CountDownLatch(1);
    Status[] closed = new Status[1];
    StreamObserver<ServerReflectionRequest> req =
        ServerReflectionGrpc.newStub(health)
            .serverReflectionInfo(
                new StreamObserver<ServerReflectionResponse>() {
                  @Override
                  public void onNext(ServerReflectionResponse r) {}

                  @Override
                  public void onError(Throwable t) {
                    closed[0] = Status.fromThrowable(t);
                    done.countDown();
                  }

                  @Override
                  public void onCompleted() {
                    closed[0] = Status.OK;
                    done.countDown();
                  }
                });
    req.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
    assertTrue(done.await(10, TimeUnit.SECONDS));
    assertEquals(Status.Code.UNIMPLEMENTED, closed[0].getCode());
    assertEquals(
        1,
        boot.healthOnlyServer().getServices().size(),
        "only grpc.health.v1: " + boot.healthOnlyServer().getServices());
  }

  @Test
  void theHealthPortStopsWhenTheServiceServerTerminates() throws Exception {
    startTlsServerWithHealthPort();
    Server h = boot.healthOnlyServer();
    boot.server().shutdown().awaitTermination(5, TimeUnit.SECONDS);
    assertTrue(
        h.awaitTermination(5, TimeUnit.SECONDS), "the health-only server outlived the service");
  }

  @Test
  void portZeroMeansNoHealthPortAndTheServicePortOrABusyPortIsAClearError() throws Exception {
    boot =
        ServerBootstrap.start(
            Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()),
            1 << 20,
            List.of(),
            new Vision());
    assertNull(boot.serveHealthOnlyOn(0));
    assertNull(boot.healthOnlyServer());
    var same =
        assertThrows(IllegalArgumentException.class, () -> boot.serveHealthOnlyOn(boot.port()));
    assertTrue(same.getMessage().contains("also the service port"), same.getMessage());
    assertThrows(IllegalArgumentException.class, () -> boot.serveHealthOnlyOn(70000));
    try (ServerSocket busy = new ServerSocket(0)) {
      var e =
          assertThrows(
              java.io.IOException.class, () -> boot.serveHealthOnlyOn(busy.getLocalPort()));
      assertTrue(
          e.getMessage().contains("cannot open the health port " + busy.getLocalPort()),
          e.getMessage());
    }
  }
}
