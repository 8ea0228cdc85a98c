package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.gateway.GatewayServer;
import tandem.gateway.config.GatewaySettings;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;

/**
 * The three real services on the vlm-tiny checkpoint (regenerated from TRW-1), over sockets, driven
 * by {@code vlm chat --json}: the generated ids equal the fixture's greedy ids with the seed's
 * processors, which needs the prompt, the grids, the splice and the stream all to be exact.
 */
class EndToEndChatTest {
  static VisionServer vision;
  static DecoderServer decoder;
  static GatewayServer gateway;
  static JsonObject references;

  @BeforeAll
  static void start() throws Exception {
    Path ckpt = TinyCheckpoints.vlmTiny();
    Map<String, String> settings =
        Map.of(
            CommonSettings.MODEL.env(),
            ckpt.toString(),
            GatewaySettings.PORT.env(),
            "0",
            DecoderSettings.MAX_BATCH.env(),
            "2",
            DecoderSettings.MAX_SEQ_LEN.env(),
            "1024");
    Env env = new Env(settings);
    vision =
        VisionServer.start(
            VisionServerConfig.fromEnv(env),
            ServerHost.inProcess(
                Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())));
    DecoderServerConfig dcfg = DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(settings));
    decoder =
        DecoderServer.start(dcfg, ServerHost.internal(dcfg.port(), Env.system(), Telemetry.noop()));
    gateway =
        GatewayServer.start(
            new GatewayServer.Config(
                ckpt,
                "127.0.0.1:" + vision.port(),
                "127.0.0.1:" + decoder.port(),
                0,
                CommonSettings.MAX_MESSAGE_BYTES.defaultValue()),
            GatewayServer.publicHost(0, Env.system(), Telemetry.noop()),
            Env.system());
    references =
        JsonParser.parseString(Files.readString(Fixtures.path("vlm-tiny/references.json")))
            .getAsJsonObject();
  }

  @AfterAll
  static void stop() throws Exception {
    if (gateway != null) gateway.close();
    if (decoder != null) decoder.close();
    if (vision != null) vision.close();
  }

  static JsonArray expectedIds(String conversation) {
    return references
        .getAsJsonObject("conversations")
        .getAsJsonObject(conversation)
        .getAsJsonArray("greedy_processed_ids");
  }

  @Test
  void anImageQuestionThroughAllThreeServicesGivesTheReferenceGreedyIds() {
    var r =
        VlmRun.of(
            "chat",
            "--server",
            "127.0.0.1:" + gateway.port(),
            "--json",
            "--image",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            "Describe this image in detail.",
            "--enable-thinking",
            "--max-new-tokens",
            "24",
            "--min-new-tokens",
            "16",
            "--no-repeat-ngram-size",
            "2",
            "--temperature",
            "0",
            "--timeout",
            "120");
    assertEquals(0, r.code(), r.err());
    JsonObject sum = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(expectedIds("c1_en_describe"), sum.get("ids"));
    assertEquals("stop", sum.get("finish_reason").getAsString());
    assertEquals(539, sum.getAsJsonObject("usage").get("prompt_tokens").getAsInt());
    assertEquals(448, sum.getAsJsonObject("usage").get("image_tokens").getAsInt());
    assertTrue(sum.getAsJsonObject("timings").get("time_to_first_token_ms").getAsDouble() > 0);
  }
}
