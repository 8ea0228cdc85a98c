package tandem.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Probes;
import tandem.common.testing.TinyCheckpoints;
import tandem.common.testing.TlsTestEnv;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.types.v1.GenerationParams;

/**
 * decoder-svc as `vlm serve decoder` starts it in a Kubernetes pod with internal mTLS: Generate
 * only for callers with a client certificate from the CA; the plaintext health-only port answers
 * probes and refuses Generate.
 */
class DecoderNetworkStartTest {
  @TempDir Path dir;
  final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void close() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  ManagedChannel track(ManagedChannel c) {
    channels.add(c);
    return c;
  }

  static Status.Code generate(ManagedChannel c) {
    GenerateRequest req =
        GenerateRequest.newBuilder()
            .setRequestId("net")
            .addInputIds(9707)
            .addInputIds(11)
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(2).setMinNewTokens(0))
            .build();
    try {
      int[] n = {0};
      DecoderServiceGrpc.newBlockingStub(c)
          .withDeadlineAfter(30, TimeUnit.SECONDS)
          .generate(req)
          .forEachRemaining(r -> n[0]++);
      assertTrue(n[0] > 0);
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  @Test
  void withMtlsOnlyTheGatewaysCertificateReachesGenerateAndTheHealthPortServesProbesOnly()
      throws Exception {
    TlsTestEnv tls = TlsTestEnv.mtlsWithHealthPort(dir);
    DecoderServerConfig config =
        DecoderServerConfig.of(
            TinyCheckpoints.decoderTiny(), "cpu", "float32", 0, 2, 64, 4, 16 << 20, 512);
    DecoderServer server =
        DecoderServer.start(
            config, ServerHost.internal(config.port(), tls.env(), Telemetry.noop()));
    try {
      assertEquals(tls.healthPort(), server.healthPort());
      ManagedChannel probe = track(TlsTestEnv.plaintext(server.healthPort()));
      assertEquals(ServingStatus.SERVING, Probes.health(probe), "the kubelet's plaintext probe");
      assertEquals(Status.Code.UNIMPLEMENTED, generate(probe), "no Generate on the health port");

      assertEquals(
          Status.Code.OK, generate(track(TlsTestEnv.channel(server.port(), tls.tls(true)))));
      assertEquals(
          Status.Code.UNAVAILABLE,
          generate(track(TlsTestEnv.channel(server.port(), tls.tls(false)))));
      assertEquals(Status.Code.UNAVAILABLE, generate(track(TlsTestEnv.plaintext(server.port()))));
    } finally {
      server.close();
    }
  }
}
