package tandem.gateway.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Attributes;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The per-client table at scale (issue 15): past 10k tracked clients every call used to sweep the
 * whole table. The sweep threshold now doubles with the live table, so many distinct clients cost
 * amortized O(1) per call and idle clients are still forgotten.
 */
class ClientLimiterSweepTest {
  /** The least a ServerCall must do for the interceptor: carry attributes and record a close. */
  static final class Call extends ServerCall<Object, Object> {
    Status closed;

    @Override
    public void request(int n) {}

    @Override
    public void sendHeaders(Metadata headers) {}

    @Override
    public void sendMessage(Object message) {}

    @Override
    public void close(Status status, Metadata trailers) {
      closed = status;
    }

    @Override
    public boolean isCancelled() {
      return false;
    }

    @Override
    public Attributes getAttributes() {
      return Attributes.EMPTY;
    }

    @Override
    public MethodDescriptor<Object, Object> getMethodDescriptor() {
      return null;
    }
  }

  static final ServerCallHandler<Object, Object> NEXT =
      (call, headers) -> new ServerCall.Listener<>() {};

  static Metadata bearer(String token) {
    Metadata h = new Metadata();
    h.put(ClientLimiter.AUTHORIZATION, "Bearer " + token);
    return h;
  }

  @Test
  void sixtyThousandDistinctClientsStayFastAndIdleOnesAreForgotten() {
    ClientLimiter limiter =
        new ClientLimiter(new GatewayLimits(4096, 100, 2, 4, 1000, 1000), true, System::nanoTime);
    List<ServerCall.Listener<Object>> open = new ArrayList<>();
    assertTimeoutPreemptively(
        Duration.ofSeconds(20),
        () -> {
          for (int i = 0; i < 60_000; i++) {
            Call c = new Call();
            ServerCall.Listener<Object> l = limiter.interceptCall(c, bearer("client-" + i), NEXT);
            assertEquals(null, c.closed);
            if (i % 1000 == 0) open.add(l); // a few stay open; the rest end at once
            else l.onComplete();
          }
        });
    assertTrue(
        limiter.trackedClients() < 60_000, "idle clients were swept: " + limiter.trackedClients());
    assertEquals(60, limiter.openStreams(), "open streams are counted across clients");
    open.forEach(ServerCall.Listener::onComplete);
    assertEquals(0, limiter.openStreams());
  }
}
