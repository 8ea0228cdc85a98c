package tandem.common.grpc;

import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import tandem.common.error.Rejection;

/**
 * The one place where a failure becomes a gRPC status: a {@link Rejection} by its kind with its
 * message, an {@link IllegalArgumentException} as INVALID_ARGUMENT, a status as itself, anything
 * else as INTERNAL. Handlers that fail later (a stream's scheduler, a batch) pass the failure to
 * {@link #toStatusException}; what a handler throws synchronously is caught by {@link
 * #interceptor()}, which {@link ServerHost} installs on every service.
 */
public final class GrpcRejections {
  private GrpcRejections() {}

  /**
   * A refusal's {@link Rejection.Kind} in the trailers, beside the status: several kinds share one
   * code (RESOURCE_EXHAUSTED is a request too large to ever run, a client over its rate, or a busy
   * server), and a caller that passes the refusal on (the gateway to an HTTP client) needs to know
   * which, e.g. to say 413 rather than 503 with Retry-After.
   */
  public static final Metadata.Key<String> KIND =
      Metadata.Key.of("tandem-rejection-kind", Metadata.ASCII_STRING_MARSHALLER);

  /** The trailers that go with {@link #status(Throwable)}: a refusal's kind, else none. */
  public static Metadata trailers(Throwable t) {
    Metadata m = new Metadata();
    if (t instanceof Rejection r) m.put(KIND, r.kind().name());
    return m;
  }

  /** The refusal's kind a failed call's trailers carry, or null (another server, or no refusal). */
  public static Rejection.Kind kind(Throwable t) {
    Metadata m = Status.trailersFromThrowable(t);
    String k = m == null ? null : m.get(KIND);
    if (k == null) return null;
    try {
      return Rejection.Kind.valueOf(k);
    } catch (IllegalArgumentException unknown) {
      return null; // a newer server's kind: the status code alone decides
    }
  }

  /** A refusal as a gRPC status: the kind's canonical code, the message as the description. */
  public static Status status(Rejection r) {
    return Status.fromCode(Status.Code.valueOf(r.kind().code())).withDescription(r.getMessage());
  }

  /** Any failure of a call as the status to close it with. */
  public static Status status(Throwable t) {
    if (t instanceof Rejection r) return status(r);
    if (t instanceof StatusRuntimeException s) return s.getStatus();
    if (t instanceof StatusException s) return s.getStatus();
    if (t instanceof IllegalArgumentException)
      return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
    return Status.INTERNAL.withDescription(String.valueOf(t)).withCause(t);
  }

  /** {@link #status(Throwable)} as the exception a {@code StreamObserver.onError} takes. */
  public static StatusRuntimeException toStatusException(Throwable t) {
    if (t instanceof StatusRuntimeException s) return s;
    return status(t).asRuntimeException(trailers(t));
  }

  /**
   * Closes a call whose handler threw with the mapped status (gRPC would say UNKNOWN and drop the
   * message). A call the handler had already closed stays as it was.
   */
  public static ServerInterceptor interceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        OnceClosed<Q, R> once = new OnceClosed<>(call);
        ServerCall.Listener<Q> delegate;
        try {
          delegate = next.startCall(once, headers);
        } catch (RuntimeException e) {
          once.closeWith(e);
          return new ServerCall.Listener<>() {};
        }
        return new Guarded<>(delegate, once);
      }
    };
  }

  private static final class OnceClosed<Q, R>
      extends ForwardingServerCall.SimpleForwardingServerCall<Q, R> {
    private volatile boolean closed;

    OnceClosed(ServerCall<Q, R> call) {
      super(call);
    }

    @Override
    public void close(Status status, Metadata trailers) {
      closed = true;
      super.close(status, trailers);
    }

    void closeWith(RuntimeException e) {
      if (closed) return;
      try {
        close(status(e), trailers(e));
      } catch (IllegalStateException alreadyClosed) {
        // closed by another thread meanwhile: the first status stands
      }
    }
  }

  private static final class Guarded<Q, R>
      extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
    private final OnceClosed<Q, R> call;

    Guarded(ServerCall.Listener<Q> delegate, OnceClosed<Q, R> call) {
      super(delegate);
      this.call = call;
    }

    @Override
    public void onMessage(Q message) {
      guard(() -> super.onMessage(message));
    }

    @Override
    public void onHalfClose() {
      guard(super::onHalfClose);
    }

    @Override
    public void onReady() {
      guard(super::onReady);
    }

    private void guard(Runnable callback) {
      try {
        callback.run();
      } catch (RuntimeException e) {
        call.closeWith(e);
      }
    }
  }
}
