package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import org.junit.jupiter.api.Test;
import tandem.common.error.Rejection;
import tandem.common.grpc.GrpcRejections;

/**
 * How a chat that fails at once is closed: each kind of failure, its status and its description.
 */
class ChatGrpcServiceStatusTest {
  static Status closedWith(Throwable t) {
    return GrpcRejections.toStatusException(ChatGrpcService.refusal(t)).getStatus();
  }

  @Test
  void refusalsAndBadArgumentsKeepTheirMessageAnythingElseIsTheGatewaysInternalError() {
    Status tooLarge = closedWith(Rejection.tooLarge("the request has 17 images"));
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooLarge.getCode());
    assertEquals("the request has 17 images", tooLarge.getDescription());
    Status bad = closedWith(new IllegalArgumentException("role 'robot' is not allowed"));
    assertEquals(Status.Code.INVALID_ARGUMENT, bad.getCode());
    assertEquals("role 'robot' is not allowed", bad.getDescription());
    Status bug = closedWith(new IllegalStateException("boom"));
    assertEquals(Status.Code.INTERNAL, bug.getCode());
    assertEquals("gateway: java.lang.IllegalStateException: boom", bug.getDescription());
    assertEquals(
        Status.Code.INTERNAL, closedWith(new OutOfMemoryError("Java heap space")).getCode());
  }
}
