package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
import tandem.proto.types.v1.FinishReason;

class ChatCommandOutTest {
  @TempDir Path tmp;
  Server server;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(
                new ChatServiceGrpc.ChatServiceImplBase() {
                  @Override
                  public void chat(ChatRequest req, StreamObserver<ChatChunk> out) {
                    out.onNext(ChatChunk.newBuilder().setDelta("apple").build());
                    out.onNext(
                        ChatChunk.newBuilder()
                            .setBox(
                                Box.newBuilder()
                                    .setLabel("apple")
                                    .addAllNorm(List.of(100.0, 250.0, 500.0, 1000.0))
                                    .addAllPixels(List.of(60.0, 100.0, 300.0, 400.0))
                                    .setParsed(true))
                            .build());
                    out.onNext(
                        ChatChunk.newBuilder()
                            .setFinal(
                                ChatFinal.newBuilder()
                                    .setFinishReason(FinishReason.FINISH_REASON_STOP))
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
    com.google.gson.JsonObject last =
        com.google.gson.JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(out.toString(), last.get("image_out").getAsString(), r.lastLine());
    for (String line : r.out().strip().split("\n"))
      com.google.gson.JsonParser.parseString(line); // every stdout line stays JSON
  }
}
