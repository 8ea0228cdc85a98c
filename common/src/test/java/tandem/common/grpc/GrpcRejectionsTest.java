package tandem.common.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.error.Rejection;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * A rejection thrown by a handler reaches the client as its status with its message, through
 * ServerHost.
 */
class GrpcRejectionsTest {
  ManagedChannel channel;
  ServerBootstrap boot;

  @AfterEach
  void stop() throws InterruptedException {
    if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (boot != null) boot.server().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Throws what the request's client_scope names. */
  static final class Thrower extends VisionServiceGrpc.VisionServiceImplBase {
    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
      switch (request.getClientScope()) {
        case "too-large" ->
            throw Rejection.tooLarge("image 0 is 30000000 bytes; at most 20971520 are allowed");
        case "not-found" -> throw Rejection.notFound("no image with id 'x'");
        case "illegal" -> throw new IllegalArgumentException("max_new_tokens must be >= 1");
        case "bug" -> throw new IllegalStateException("broken");
        case "overloaded" ->
            out.onError(GrpcRejections.toStatusException(Rejection.overloaded("queue full")));
        default -> {
          out.onError(GrpcRejections.toStatusException(Rejection.unavailable("shutting down")));
          throw Rejection.internal("after onError", null); // the first status stands
        }
      }
    }
  }

  private Status call(String what) throws Exception {
    return failure(what).getStatus();
  }

  private StatusRuntimeException failure(String what) throws Exception {
    if (boot == null) {
      String name = InProcessServerBuilder.generateName();
      boot =
          ServerHost.inProcess(InProcessServerBuilder.forName(name)).start(1 << 20, new Thrower());
      boot.setServing();
      channel = InProcessChannelBuilder.forName(name).build();
    }
    var stub = VisionServiceGrpc.newBlockingStub(channel);
    return assertThrows(
        StatusRuntimeException.class,
        () -> stub.embed(EmbedRequest.newBuilder().setClientScope(what).build()));
  }

  /**
   * RESOURCE_EXHAUSTED is three kinds (too large, rate-limited, overloaded): the trailers say
   * which, thrown or passed to onError; a failure that is no refusal carries none.
   */
  @Test
  void aRefusalsKindTravelsInItsTrailers() throws Exception {
    assertEquals(Rejection.Kind.TOO_LARGE, GrpcRejections.kind(failure("too-large")));
    assertEquals(Rejection.Kind.OVERLOADED, GrpcRejections.kind(failure("overloaded")));
    assertEquals(Rejection.Kind.UNAVAILABLE, GrpcRejections.kind(failure("closed-first")));
    assertEquals(null, GrpcRejections.kind(failure("illegal")));
    assertEquals(null, GrpcRejections.kind(new RuntimeException("no status")));
  }

  @Test
  void eachFailureBecomesItsStatusWithItsMessage() throws Exception {
    Status s = call("too-large");
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, s.getCode());
    assertEquals("image 0 is 30000000 bytes; at most 20971520 are allowed", s.getDescription());
    assertEquals(Status.Code.NOT_FOUND, call("not-found").getCode());
    s = call("illegal");
    assertEquals(Status.Code.INVALID_ARGUMENT, s.getCode());
    assertEquals("max_new_tokens must be >= 1", s.getDescription());
    s = call("bug");
    assertEquals(Status.Code.INTERNAL, s.getCode());
    assertEquals("java.lang.IllegalStateException: broken", s.getDescription());
    s = call("closed-first");
    assertEquals(Status.Code.UNAVAILABLE, s.getCode());
    assertEquals("shutting down", s.getDescription());
  }

  @Test
  void everyKindMapsToItsStatusCode() {
    java.util.Map<Rejection.Kind, Status.Code> expected =
        java.util.Map.ofEntries(
            java.util.Map.entry(Rejection.Kind.INVALID, Status.Code.INVALID_ARGUMENT),
            java.util.Map.entry(Rejection.Kind.TOO_LARGE, Status.Code.RESOURCE_EXHAUSTED),
            java.util.Map.entry(Rejection.Kind.RATE_LIMITED, Status.Code.RESOURCE_EXHAUSTED),
            java.util.Map.entry(Rejection.Kind.OVERLOADED, Status.Code.RESOURCE_EXHAUSTED),
            java.util.Map.entry(Rejection.Kind.UNAUTHENTICATED, Status.Code.UNAUTHENTICATED),
            java.util.Map.entry(Rejection.Kind.PERMISSION_DENIED, Status.Code.PERMISSION_DENIED),
            java.util.Map.entry(Rejection.Kind.NOT_FOUND, Status.Code.NOT_FOUND),
            java.util.Map.entry(
                Rejection.Kind.FAILED_PRECONDITION, Status.Code.FAILED_PRECONDITION),
            java.util.Map.entry(Rejection.Kind.UNAVAILABLE, Status.Code.UNAVAILABLE),
            java.util.Map.entry(Rejection.Kind.DEADLINE, Status.Code.DEADLINE_EXCEEDED),
            java.util.Map.entry(Rejection.Kind.CANCELLED, Status.Code.CANCELLED),
            java.util.Map.entry(Rejection.Kind.INTERNAL, Status.Code.INTERNAL));
    assertEquals(Rejection.Kind.values().length, expected.size(), "every kind is in the table");
    for (Rejection.Kind k : Rejection.Kind.values()) {
      Status s = GrpcRejections.status(new Rejection(k, "m"));
      assertEquals(expected.get(k), s.getCode(), k.toString());
      assertEquals("m", s.getDescription());
    }
  }
}
