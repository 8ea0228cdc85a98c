package tandem.gateway.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
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

  @Test
  void onlyAnInternalFailureIsLoggedWithItsCause() {
    Logger jul = Logger.getLogger(ChatGrpcService.class.getName());
    List<LogRecord> records = new ArrayList<>();
    Handler h =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            records.add(r);
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    jul.addHandler(h);
    try {
      ChatGrpcService.logInternal("r1", Rejection.tooLarge("the request has 17 images"));
      ChatGrpcService.logInternal("r2", new IllegalArgumentException("role 'robot'"));
      ChatGrpcService.logInternal("r3", Rejection.unavailable("decoder-svc is unavailable"));
      assertEquals(0, records.size());
      IllegalStateException boom = new IllegalStateException("boom");
      ChatGrpcService.logInternal("r4", ChatGrpcService.refusal(boom));
      assertEquals(1, records.size());
      assertEquals(Level.WARNING, records.get(0).getLevel());
      assertSame(boom, records.get(0).getThrown().getCause());
      String line = records.get(0).getMessage();
      assertEquals(
          "chat r4 failed with INTERNAL: gateway: java.lang.IllegalStateException: boom", line);
    } finally {
      jul.removeHandler(h);
    }
  }
}
