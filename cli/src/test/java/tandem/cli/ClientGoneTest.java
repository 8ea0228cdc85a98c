package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.TinyCheckpoints;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.types.v1.GenerationParams;

/**
 * End to end through the real gateway and decoder (tiny checkpoint): a client that goes away —
 * cancel or deadline — leaves no decoder sequence running (active sequences back to 0), and the
 * server serves the next client.
 */
class ClientGoneTest {
  private static AllInOne server;
  private static ManagedChannel channel;

  @BeforeAll
  static void start() throws Exception {
    String name = "gone-" + UUID.randomUUID();
    server =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            Map.of("TANDEM_DECODER_MAX_BATCH", "2", "TANDEM_DECODER_MAX_SEQ_LEN", "2048"),
            InProcessServerBuilder.forName(name),
            Telemetry.noop());
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterAll
  static void stop() {
    if (channel != null) channel.shutdownNow();
    if (server != null) server.close();
  }

  /** A chat that cannot stop early: min_new_tokens suppresses EOS for 1500 tokens. */
  static ChatRequest longChat() {
    return ChatRequests.user("count to a thousand")
        .setParams(
            GenerationParams.newBuilder()
                .setMaxNewTokens(1500)
                .setMinNewTokens(1500)
                .setTemperature(0))
        .build();
  }

  static void waitFor(BooleanSupplier cond, String what) throws InterruptedException {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > until) throw new AssertionError("timed out waiting: " + what);
      Thread.sleep(20);
    }
  }

  int active() {
    return server.decoder().metrics().activeSequences();
  }

  @Test
  void aClientCancelMidStreamFreesTheDecoderSequence() throws Exception {
    Context.CancellableContext ctx = Context.current().withCancellation();
    Iterator<ChatChunk> it =
        ctx.call(() -> ChatServiceGrpc.newBlockingStub(channel).chat(longChat()));
    assertTrue(it.hasNext());
    it.next(); // text is streaming: the sequence holds a slot
    assertEquals(1, active());
    ctx.cancel(null);
    waitFor(() -> active() == 0, "active sequences back to 0 after the client cancelled");
  }

  @Test
  void aClientDeadlineMidStreamFreesTheDecoderSequence() throws Exception {
    // The deadline must fall while the stream runs, on a slow host and on a fast one (a fixed 1.5 s
    // once outlasted all 1500 tokens): the same chat without a deadline first measures when its
    // first chunk comes and how long the whole stream takes.
    long t0 = System.nanoTime();
    Iterator<ChatChunk> probe = ChatServiceGrpc.newBlockingStub(channel).chat(longChat());
    probe.next();
    long first = System.nanoTime() - t0;
    probe.forEachRemaining(c -> {});
    long total = System.nanoTime() - t0;
    waitFor(() -> active() == 0, "the probe's sequence finished");
    long deadlineNanos = 2 * first + (total - first) / 4;
    var stub =
        ChatServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(deadlineNanos, TimeUnit.NANOSECONDS);
    Iterator<ChatChunk> it = stub.chat(longChat());
    it.next();
    var e = assertThrows(StatusRuntimeException.class, () -> it.forEachRemaining(c -> {}));
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    waitFor(() -> active() == 0, "active sequences back to 0 after the deadline");
    // and the server is fine for the next client
    var next =
        ChatServiceGrpc.newBlockingStub(channel)
            .chat(
                ChatRequests.user("hi")
                    .setParams(GenerationParams.newBuilder().setMaxNewTokens(4))
                    .build());
    ChatChunk last = null;
    while (next.hasNext()) last = next.next();
    assertTrue(last != null && last.hasFinal());
  }
}
