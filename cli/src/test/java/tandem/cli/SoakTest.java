package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import tandem.cli.bench.Soak;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/** The soak's own bookkeeping, against a server whose every chat fails. */
class SoakTest {
  @Test
  void anUnexpectedErrorIsCountedAndItsDescriptionLoggedForTheFirstTwenty() throws Exception {
    String name = "soak-test-" + System.nanoTime();
    Server server =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(
                new ChatServiceGrpc.ChatServiceImplBase() {
                  @Override
                  public void chat(ChatRequest req, StreamObserver<ChatChunk> out) {
                    out.onError(
                        Status.INTERNAL.withDescription("the gateway broke here").asException());
                  }
                })
            .build()
            .start();
    ManagedChannel ch = InProcessChannelBuilder.forName(name).directExecutor().build();
    try {
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      Soak.Report r =
          Soak.run(
              ChatServiceGrpc.newStub(ch), 1, 2_000, 2, -1, new PrintStream(log, true, "UTF-8"));
      String text = log.toString(StandardCharsets.UTF_8);
      assertTrue(r.requests() > 20, r + "\n" + text); // 50 ms back-off: ~40 in 2 s
      assertEquals(r.requests(), r.unexpectedErrors(), text);
      assertTrue(
          text.contains("soak: unexpected INTERNAL (plain, ")
              && text.contains("the gateway broke here"),
          text);
      assertEquals(20, text.split("soak: unexpected ", -1).length - 1, text);
    } finally {
      ch.shutdownNow();
      server.shutdownNow();
    }
  }

  @Test
  void clientsThatCancelKeepGoingAndEveryCancelIsCountedAsTheClients() throws Exception {
    String name = "soak-cancel-" + System.nanoTime();
    Server server =
        InProcessServerBuilder.forName(name)
            .addService(
                new ChatServiceGrpc.ChatServiceImplBase() {
                  @Override
                  public void chat(ChatRequest req, StreamObserver<ChatChunk> out) {
                    // never answers: only the client's cancel ends the call
                    ((io.grpc.stub.ServerCallStreamObserver<ChatChunk>) out)
                        .setOnCancelHandler(() -> {});
                  }
                })
            .build()
            .start();
    ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
    try {
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      Soak.Report r =
          Soak.run(
              ChatServiceGrpc.newStub(ch),
              2,
              3_000,
              2,
              -1,
              new PrintStream(log, true, "UTF-8"),
              new Soak.Mix(0, 1, 0, 0, 0, 0),
              null);
      String why = r + "\n" + log.toString(StandardCharsets.UTF_8);
      // cancels come 1..800 ms after each start: about 7 a client in 3 s
      assertTrue(r.requests() >= 6, why);
      assertEquals(0, r.unexpectedErrors(), why);
      assertEquals(r.requests(), r.expected().getOrDefault("client cancels", 0L), why);
    } finally {
      ch.shutdownNow();
      server.shutdownNow();
    }
  }

  @Test
  void aClientThatDiesFailsTheSoakInsteadOfThinningItsLoad() throws Exception {
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    Soak.Target broken =
        () -> {
          throw new IllegalStateException("no channel today");
        };
    Soak.Report r =
        Soak.run(
            ChatServiceGrpc.newStub(InProcessChannelBuilder.forName("nobody").build()),
            2,
            500,
            2,
            -1,
            new PrintStream(log, true, "UTF-8"),
            new Soak.Mix(0, 0, 1, 0, 0, 0),
            broken);
    String text = log.toString(StandardCharsets.UTF_8);
    assertEquals(2L, r.errors().get("CLIENT_DIED"), r + "\n" + text);
    assertEquals(2, r.unexpectedErrors(), text);
    assertTrue(text.contains("died: java.lang.IllegalStateException: no channel today"), text);
  }
}
