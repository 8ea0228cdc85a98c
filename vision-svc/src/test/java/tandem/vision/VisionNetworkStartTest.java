package tandem.vision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Probes;
import tandem.common.testing.TinyCheckpoints;
import tandem.common.testing.TlsTestEnv;
import tandem.vision.embed.EmbedLimits;

/**
 * vision-svc as `vlm serve vision` starts it in a Kubernetes pod with internal mTLS: the service
 * port admits only callers with a client certificate from the CA, and the plaintext health-only
 * port answers the kubelet's probes but no Embed.
 */
class VisionNetworkStartTest {
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

  @Test
  void withMtlsOnlyTheGatewaysCertificateReachesEmbedAndTheHealthPortServesProbesOnly()
      throws Exception {
    TlsTestEnv tls = TlsTestEnv.mtlsWithHealthPort(dir);
    VisionServerConfig s =
        new VisionServerConfig(
            TinyCheckpoints.vlmTiny(), "cpu", 0, 8, 2, 1L << 20, EmbedLimits.defaults(), 128 << 20);
    try (VisionServer server =
        VisionServer.start(s, ServerHost.internal(s.port(), tls.env(), Telemetry.noop()))) {
      assertEquals(tls.healthPort(), server.healthPort());
      ManagedChannel probe = track(TlsTestEnv.plaintext(server.healthPort()));
      assertEquals(ServingStatus.SERVING, Probes.health(probe), "the kubelet's plaintext probe");
      assertEquals(
          Status.Code.UNIMPLEMENTED, Probes.embedCode(probe), "no Embed on the health port");

      // with the client certificate the call reaches Embed (an empty request is refused by Embed
      // itself)
      assertEquals(
          Status.Code.INVALID_ARGUMENT,
          Probes.embedCode(track(TlsTestEnv.channel(server.port(), tls.tls(true)))));
      // no client certificate: the handshake fails; plaintext: no TLS at all
      assertEquals(
          Status.Code.UNAVAILABLE,
          Probes.embedCode(track(TlsTestEnv.channel(server.port(), tls.tls(false)))));
      assertEquals(
          Status.Code.UNAVAILABLE, Probes.embedCode(track(TlsTestEnv.plaintext(server.port()))));
    }
  }

  @Test
  void theDrainGraceComesFromTheEnvironmentAndABadOneFailsTheStartBeforeLoading() throws Exception {
    VisionServerConfig s =
        new VisionServerConfig(
            TinyCheckpoints.vlmTiny(), "cpu", 0, 8, 2, 1L << 20, EmbedLimits.defaults(), 128 << 20);
    String grace = CommonSettings.SHUTDOWN_GRACE_SECONDS.env();
    var bad =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                VisionServer.start(
                    s,
                    ServerHost.internal(s.port(), new Env(Map.of(grace, "-1")), Telemetry.noop())));
    assertTrue(bad.getMessage().contains(grace), bad.getMessage());
    try (VisionServer server =
        VisionServer.start(
            s, ServerHost.internal(s.port(), new Env(Map.of(grace, "7")), Telemetry.noop()))) {
      assertEquals(Duration.ofSeconds(7), server.shutdownGrace());
    }
    try (VisionServer server =
        VisionServer.start(s, ServerHost.internal(s.port(), new Env(Map.of()), Telemetry.noop()))) {
      assertEquals(
          Duration.ofSeconds(CommonSettings.SHUTDOWN_GRACE_SECONDS.defaultValue()),
          server.shutdownGrace());
    }
  }
}
