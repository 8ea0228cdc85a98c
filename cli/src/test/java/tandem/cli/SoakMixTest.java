package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tandem.cli.bench.Soak;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.gateway.config.GatewaySettings;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * A short soak with the hostile mix against the real all-in-one server: images, cancels,
 * disconnects, slow readers and a backend restart cause no unexpected error, and nothing is left in
 * flight or queued afterwards.
 */
class SoakMixTest {
  @Test
  void theHostileMixLeavesNoUnexpectedErrorAndNothingInFlight() throws Exception {
    AllInOne server =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            Map.of(
                DecoderSettings.MAX_BATCH.env(),
                "4",
                DecoderSettings.MAX_SEQ_LEN.env(),
                "2048",
                GatewaySettings.MAX_STREAMS_PER_CLIENT.env(),
                "0",
                GatewaySettings.RATE_PER_SECOND.env(),
                "0"),
            Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()),
            Telemetry.noop());
    String target = "127.0.0.1:" + server.port();
    ManagedChannel ch = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
    try {
      int[] restarts = {0};
      Soak.Target hooks =
          new Soak.Target() {
            @Override
            public ManagedChannel freshChannel() {
              return Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
            }

            @Override
            public boolean restartBackend() throws Exception {
              if (restarts[0]++ % 2 == 0) server.restartDecoder();
              else server.restartVision();
              return true;
            }

            @Override
            public Map<String, Long> gauges() {
              return Map.of(
                  "gateway open streams",
                  (long) server.openStreams(),
                  "decoder active sequences",
                  (long) server.decoder().metrics().activeSequences(),
                  "vision queued tiles",
                  (long) server.vision().batcher().queuedTiles());
            }
          };
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      Soak.Report r =
          Soak.run(
              ChatServiceGrpc.newStub(ch),
              4,
              12_000,
              4,
              -1,
              new PrintStream(log),
              new Soak.Mix(0.3, 0.15, 0.1, 0.1, 50, 5),
              hooks);
      String why = r + "\n" + log;
      assertTrue(r.requests() > 10, why);
      assertEquals(0, r.unexpectedErrors(), why);
      assertEquals(0, r.leftOver(), why);
      assertTrue(r.expected().getOrDefault("backend restarts", 0L) >= 1, why);
      assertTrue(
          r.expected().containsKey("client cancels")
              || r.expected().containsKey("finished before the cancel"),
          why);
      assertTrue(r.endGauges().containsKey("jvm threads"), why);
    } finally {
      ch.shutdownNow();
      server.close();
    }
  }
}
