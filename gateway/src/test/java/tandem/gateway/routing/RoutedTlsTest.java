package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.security.TlsSettings;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TlsTestEnv;
import tandem.gateway.backend.Backends;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * The routed backend channels over mutual TLS, as the chart's internal TLS runs them: each replica
 * is dialled by its resolved address while the certificate is checked against the name that was
 * configured.
 */
class RoutedTlsTest {
  @TempDir Path dir;

  @Test
  void aReplicaBehindMtlsIsReachedByItsResolvedAddressAndCheckedAgainstTheConfiguredName()
      throws Exception {
    TlsTestEnv tls = TlsTestEnv.mtlsWithHealthPort(dir);
    Server server =
        TlsSettings.internalServerBuilder(0, tls.env())
            .addService(
                new VisionServiceGrpc.VisionServiceImplBase() {
                  @Override
                  public void embed(EmbedRequest r, StreamObserver<EmbedResponse> out) {
                    out.onNext(
                        EmbedResponse.newBuilder()
                            .addImages(ImageEmbedding.newBuilder().setContentHash("over tls"))
                            .build());
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    String addr = "localhost:" + server.getPort();
    EmbedRequest one =
        EmbedRequest.newBuilder().addImages(ImageInput.newBuilder().setImageId("x")).build();
    try (Backends ok =
            Backends.connect(
                addr,
                addr,
                1 << 20,
                Telemetry.noop(),
                tls.tls(true),
                RoutingSettings.defaults(),
                new PrefixKey(1, 2, new int[] {3}));
        Backends noCert =
            Backends.connect(
                addr,
                addr,
                1 << 20,
                Telemetry.noop(),
                tls.tls(false),
                RoutingSettings.defaults(),
                new PrefixKey(1, 2, new int[] {3}))) {
      EmbedResponse r =
          VisionServiceGrpc.newBlockingStub(ok.routing().vision())
              .withDeadlineAfter(20, TimeUnit.SECONDS)
              .embed(one);
      assertEquals("over tls", r.getImages(0).getContentHash());
      assertEquals(
          "127.0.0.1:" + server.getPort(),
          ok.routing().vision().pool().endpoints().get(0).id(),
          "dialled by address");
      StatusRuntimeException e =
          assertThrows(
              StatusRuntimeException.class,
              () ->
                  VisionServiceGrpc.newBlockingStub(noCert.routing().vision())
                      .withDeadlineAfter(20, TimeUnit.SECONDS)
                      .embed(one));
      assertEquals(
          Status.Code.UNAVAILABLE,
          e.getStatus().getCode(),
          "no client certificate: the handshake fails");
    } finally {
      server.shutdownNow();
    }
  }
}
