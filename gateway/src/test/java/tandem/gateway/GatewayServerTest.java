package tandem.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.config.Env;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TlsTestEnv;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * The gateway process over real sockets: starts on the fixture checkpoint, refuses an unknown
 * template.
 */
class GatewayServerTest {
  @Test
  void aStartedGatewayIsServingAndNamesADownDecoderOverRealSockets() throws Exception {
    var cfg =
        new GatewayServer.Config(
            Fixtures.path("vlm-tiny/checkpoint"), "127.0.0.1:1", "127.0.0.1:1", 0, 1 << 20);
    try (GatewayServer s = start(cfg, Env.system())) {
      String line = s.startupLine(cfg, false);
      assertTrue(line.startsWith("gateway: model checkpoint ("), line);
      assertTrue(
          line.contains(
              "vision-svc 127.0.0.1:1 (1 replica), decoder-svc 127.0.0.1:1 (1 replica); Chat on"
                  + " port "
                  + s.port()
                  + ", no HTTP port; limits: prompt 4096 tokens, max_new_tokens 2048, 16 images,"
                  + " request "
                  + (1 << 20)
                  + " bytes, 128 streams (16 per client), 20.0 requests/s per client (burst 40)"),
          line);
      ManagedChannel ch =
          Grpc.newChannelBuilder("127.0.0.1:" + s.port(), InsecureChannelCredentials.create())
              .build();
      try {
        var health =
            HealthGrpc.newBlockingStub(ch)
                .check(
                    HealthCheckRequest.newBuilder()
                        .setService("tandem.gateway.v1.ChatService")
                        .build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
        var e =
            assertThrows(
                StatusRuntimeException.class,
                () ->
                    ChatServiceGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                        .chat(ChatRequests.user("hi").build())
                        .forEachRemaining(c -> {}));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(
            e.getStatus().getDescription().startsWith("decoder-svc (127.0.0.1:1) is unavailable"),
            e.getStatus().getDescription());
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void withTlsOnThePublicPortTheHealthPortAnswersPlaintextProbesAndRefusesChat(@TempDir Path dir)
      throws Exception {
    TlsTestEnv tls = TlsTestEnv.mtlsWithHealthPort(dir);
    var cfg =
        new GatewayServer.Config(
            Fixtures.path("vlm-tiny/checkpoint"), "127.0.0.1:1", "127.0.0.1:1", 0, 1 << 20);
    try (GatewayServer s = start(cfg, tls.env())) {
      assertEquals(tls.healthPort(), s.healthPort());
      List<ManagedChannel> chs =
          List.of(
              TlsTestEnv.plaintext(s.healthPort()),
              TlsTestEnv.plaintext(s.port()),
              TlsTestEnv.channel(s.port(), tls.tls(true)));
      try {
        var probe = HealthGrpc.newBlockingStub(chs.get(0)).withDeadlineAfter(10, TimeUnit.SECONDS);
        assertEquals(
            HealthCheckResponse.ServingStatus.SERVING,
            probe.check(HealthCheckRequest.getDefaultInstance()).getStatus());
        assertEquals(
            Status.Code.UNIMPLEMENTED, chat(chs.get(0)).getCode(), "no Chat on the health port");
        assertEquals(
            Status.Code.UNAVAILABLE, chat(chs.get(1)).getCode(), "the public port speaks TLS only");
        // over TLS with the client certificate Chat runs, and fails only on the missing decoder
        Status viaTls = chat(chs.get(2));
        assertTrue(
            viaTls.getDescription().startsWith("decoder-svc (127.0.0.1:1) is unavailable"),
            viaTls.toString());
        var tlsHealth =
            HealthGrpc.newBlockingStub(chs.get(2)).withDeadlineAfter(10, TimeUnit.SECONDS);
        assertEquals(
            HealthCheckResponse.ServingStatus.SERVING,
            tlsHealth.check(HealthCheckRequest.getDefaultInstance()).getStatus());
      } finally {
        for (ManagedChannel c : chs) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static GatewayServer start(GatewayServer.Config cfg, Env env) throws Exception {
    return GatewayServer.start(
        cfg, GatewayServer.publicHost(cfg.port(), env, Telemetry.noop()), env);
  }

  static Status chat(ManagedChannel ch) {
    try {
      ChatServiceGrpc.newBlockingStub(ch)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .chat(ChatRequests.user("hi").build())
          .forEachRemaining(c -> {});
      return Status.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  @Test
  void aCheckpointWithAnUnknownChatTemplateIsRefusedAtStart(@TempDir Path dir) throws Exception {
    Files.writeString(
        dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"{{ messages }}\"}");
    var cfg = new GatewayServer.Config(dir, "127.0.0.1:1", "127.0.0.1:1", 0, 1 << 20);
    var e = assertThrows(IllegalStateException.class, () -> start(cfg, Env.system()));
    assertTrue(e.getMessage().contains("not the Qwen3-SmVL template"), e.getMessage());
  }
}
