package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.Fixtures;
import tandem.proto.gateway.v1.Box;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.StageTimings;
import tandem.proto.gateway.v1.Usage;
import tandem.proto.types.v1.FinishReason;

/**
 * {@code vlm chat} against a scripted in-process gateway, reached through the embedded-gateway
 * hook.
 */
class ChatCommandTest {
  @TempDir Path tmp;
  Server server;
  final AtomicReference<ChatRequest> seen = new AtomicReference<>();
  FinishReason finish = FinishReason.FINISH_REASON_STOP;

  static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(
                new ChatServiceGrpc.ChatServiceImplBase() {
                  @Override
                  public void chat(ChatRequest req, StreamObserver<ChatChunk> out) {
                    seen.set(req);
                    out.onNext(ChatChunk.newBuilder().setDelta("图中有一个苹果").build());
                    out.onNext(
                        ChatChunk.newBuilder()
                            .setDelta("<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>")
                            .build());
                    out.onNext(
                        ChatChunk.newBuilder()
                            .setBox(
                                Box.newBuilder()
                                    .setLabel("苹果")
                                    .addAllNorm(List.of(100.0, 250.0, 500.0, 1000.0))
                                    .addAllPixels(List.of(60.0, 100.0, 300.0, 400.0))
                                    .setParsed(true)
                                    .setRaw("{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}"))
                            .build());
                    out.onNext(
                        ChatChunk.newBuilder()
                            .setFinal(
                                ChatFinal.newBuilder()
                                    .setFinishReason(finish)
                                    .setError(
                                        finish == FinishReason.FINISH_REASON_ERROR
                                            ? "decoder-svc died"
                                            : "")
                                    .addAllCompletionIds(List.of(5, 6, 7))
                                    .setUsage(
                                        Usage.newBuilder()
                                            .setPromptTokens(500)
                                            .setImageTokens(448)
                                            .setCompletionTokens(3))
                                    .setTimings(
                                        StageTimings.newBuilder()
                                            .setVisionMs(10)
                                            .setDecodeMs(20)
                                            .setTotalMs(40))
                                    .setTraceId(TRACE_ID))
                            .build());
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    ChatCommand.setEmbeddedGateway(model -> InProcessChannelBuilder.forName(name).build());
  }

  @AfterEach
  void stop() throws Exception {
    ChatCommand.setEmbeddedGateway(null);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  Path image() {
    return Fixtures.path("vlm-tiny/images/a1_coffee.png");
  }

  @Test
  void jsonModePrintsOneObjectPerChunkAndTheSummaryLast() throws Exception {
    var r =
        VlmRun.of(
            "chat",
            "--model",
            tmp.toString(),
            "--json",
            "--image",
            image().toString(),
            "检测图片中的苹果",
            "--max-new-tokens",
            "64",
            "--temperature",
            "0",
            "--no-repeat-ngram-size",
            "2");
    assertEquals(0, r.code(), r.err());
    String[] lines = r.out().strip().split("\n");
    assertEquals(5, lines.length, r.out());
    assertEquals(
        "图中有一个苹果", JsonParser.parseString(lines[0]).getAsJsonObject().get("delta").getAsString());
    assertTrue(JsonParser.parseString(lines[2]).getAsJsonObject().has("box"));
    JsonObject sum = JsonParser.parseString(lines[4]).getAsJsonObject();
    assertEquals(
        "图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>",
        sum.get("text").getAsString());
    assertEquals("[5,6,7]", sum.get("ids").toString());
    assertEquals("stop", sum.get("finish_reason").getAsString());
    assertEquals(448, sum.getAsJsonObject("usage").get("image_tokens").getAsInt());
    assertEquals(10.0, sum.getAsJsonObject("timings").get("vision_ms").getAsDouble());
    assertEquals(TRACE_ID, sum.get("trace_id").getAsString());
    JsonObject box = sum.getAsJsonArray("boxes").get(0).getAsJsonObject();
    assertEquals("苹果", box.get("label").getAsString());
    assertEquals("[60.0,100.0,300.0,400.0]", box.get("pixels").toString());

    ChatRequest req = seen.get();
    assertEquals(64, req.getParams().getMaxNewTokens());
    assertEquals(0f, req.getParams().getTemperature());
    assertEquals(2, req.getParams().getNoRepeatNgramSize());
    assertTrue(req.getAddGenerationPrompt());
    assertTrue(req.hasEnableThinking() && !req.getEnableThinking());
    assertArrayEquals(
        Files.readAllBytes(image()),
        req.getMessages(0).getContent(0).getImage().getData().toByteArray());
    assertEquals("检测图片中的苹果", req.getMessages(0).getContent(1).getText());
  }

  @Test
  void terminalModeStreamsTextPrintsABoxTableDrawsTheImageAndATimingLine() throws Exception {
    Path out = tmp.resolve("drawn.png");
    var r =
        VlmRun.of(
            "chat",
            "--model",
            tmp.toString(),
            "--image",
            image().toString(),
            "--out",
            out.toString(),
            "检测图片中的苹果");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("图中有一个苹果<box>"), r.out());
    assertTrue(
        r.out().contains("苹果")
            && r.out().contains("100,250,500,1000")
            && r.out().contains("60,100,300,400"),
        r.out());
    assertTrue(r.out().contains("boxes drawn on " + out), r.out());
    String timing = r.out().strip().lines().reduce((a, b) -> b).orElse("");
    assertTrue(timing.startsWith("timings: ") && timing.endsWith(" | trace " + TRACE_ID), r.out());
    BufferedImage img = ImageIO.read(out.toFile());
    assertEquals(600, img.getWidth());
    assertEquals(400, img.getHeight());
    // The box outline was drawn: the pixel on its left edge is no longer the photo's.
    BufferedImage src = ImageIO.read(image().toFile());
    assertTrue(
        img.getRGB(60, 250) != src.getRGB(60, 250) || img.getRGB(61, 250) != src.getRGB(61, 250));
  }

  @Test
  void anErrorChunkEndsWithExitCode1AndTheErrorOnStderr() {
    finish = FinishReason.FINISH_REASON_ERROR;
    var r = VlmRun.of("chat", "--model", tmp.toString(), "hello");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("decoder-svc died"), r.err());
  }

  @Test
  void withoutAServerOrAnEmbeddedGatewayTheUserIsToldWhatToDo() {
    ChatCommand.setEmbeddedGateway(null);
    var r = VlmRun.of("chat", "hello");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--server"), r.err());
  }

  @Test
  void badGenerationFlagsAreRefused() {
    var r = VlmRun.of("chat", "--model", tmp.toString(), "--top-p", "1.5", "hello");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--top-p must be in (0, 1]"), r.err());
  }

  @Test
  void anUnreachableServerIsUnavailableWithinTheTimeout() {
    long t = System.nanoTime();
    var r = VlmRun.of("chat", "--server", "127.0.0.1:1", "--timeout", "5", "hello");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("UNAVAILABLE"), r.err());
    assertTrue((System.nanoTime() - t) / 1e9 < 5);
  }

  private VlmRun chat(Path out) {
    return VlmRun.of(
        "chat",
        "--model",
        tmp.toString(),
        "--image",
        Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
        "--out",
        out.toString(),
        "what is this");
  }

  /** --out into a folder that does not exist yet: the folder is made, as vlm embed --out does. */
  @Test
  void anOutFileInAMissingFolderIsWritten() {
    Path out = tmp.resolve("no-such-dir").resolve("drawn.png");
    VlmRun r = chat(out);
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.isRegularFile(out), r.out());
    assertTrue(r.out().contains("boxes drawn on " + out), r.out());
  }

  /**
   * An explicit --out that cannot be written (its folder is a file): the file that was asked for is
   * missing, so the command does not report success, and says why in one line on stderr (no stack
   * trace, not only a stdout line).
   */
  @Test
  void anOutFileThatCannotBeWrittenIsNotASuccess() throws Exception {
    Path blocker = Files.writeString(tmp.resolve("a-file"), "x");
    Path out = blocker.resolve("drawn.png");
    VlmRun r = chat(out);
    assertFalse(Files.exists(out));
    assertEquals(2, r.code(), "exit code; stdout: " + r.out() + "; stderr: " + r.err());
    assertTrue(r.err().contains("vlm: error: could not draw the boxes on " + out), r.err());
    assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    assertTrue(r.out().contains("timings:"), "the answer and its timings still print: " + r.out());
  }

  /** --json draws only when --out asks for it, and names the file in its summary line. */
  @Test
  void jsonModeDrawsWhenAskedAndNamesTheFile() {
    Path out = tmp.resolve("drawn.png");
    VlmRun r =
        VlmRun.of(
            "chat",
            "--model",
            tmp.toString(),
            "--image",
            Fixtures.path("vlm-tiny/images/a1_coffee.png").toString(),
            "--json",
            "--out",
            out.toString(),
            "what is this");
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.isRegularFile(out), r.out());
    JsonObject last = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(out.toString(), last.get("image_out").getAsString(), r.lastLine());
    for (String line : r.out().strip().split("\n"))
      JsonParser.parseString(line); // every stdout line stays JSON
  }
}
