package tandem.gateway.routing;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;

/**
 * A {@link Channel} to every decoder-svc replica that places each {@code Generate} call by its
 * conversation's {@link PrefixKey} with {@link BoundedLoad bounded-load} consistent hashing: turns
 * of one conversation return to the replica that holds their prefix unless it carries more than its
 * share of the load.
 *
 * <p>A replica's load is what this gateway knows of it: {@code max(calls open from here, running +
 * queued from its last report) + kv_cache_usage}. The report comes in every final message and
 * counts for {@code reportTtl} (then only this gateway's own calls count); replicas that report
 * zeros (older decoders) are balanced on this gateway's calls alone. A call refused UNAVAILABLE
 * before the replica sent anything (gone, draining) is placed again on the next replica; once a
 * token has arrived the failure is the caller's.
 */
public final class DecoderRouter extends Channel {
  private static final MethodDescriptor<GenerateRequest, GenerateResponse> GENERATE =
      DecoderServiceGrpc.getGenerateMethod();

  private final EndpointPool pool;
  private final PrefixKey prefixKey;
  private final double loadFactor;
  private final long reportTtlNanos;

  public DecoderRouter(
      EndpointPool pool, PrefixKey prefixKey, double loadFactor, Duration reportTtl) {
    if (!(loadFactor >= 1))
      throw new IllegalArgumentException("the load factor must be >= 1, got " + loadFactor);
    this.pool = pool;
    this.prefixKey = prefixKey;
    this.loadFactor = loadFactor;
    this.reportTtlNanos = reportTtl.toNanos();
  }

  public EndpointPool pool() {
    return pool;
  }

  @Override
  public String authority() {
    return pool.target().entries().get(0).authority();
  }

  /** The load figure bounded-load placement compares (see the class comment). */
  public double load(Endpoint e) {
    double base = e.inFlight();
    double kv = 0;
    Endpoint.LoadReport r = e.report();
    if (r != null && System.nanoTime() - r.receivedNanos() < reportTtlNanos) {
      base = Math.max(base, (double) r.runningSequences() + r.queuedRequests());
      kv = Math.min(1, Math.max(0, r.kvCacheUsage()));
    }
    return base + kv;
  }

  @Override
  @SuppressWarnings("unchecked")
  public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options) {
    if (method.getFullMethodName().equals(GENERATE.getFullMethodName())) {
      return (ClientCall<ReqT, RespT>) new PlacedCall(options, Context.current());
    }
    Endpoint e = Rendezvous.owner(System.nanoTime(), pool.endpoints(), Set.of());
    if (e == null) return new VisionRouter.FailedCall<>(noEndpoints());
    return e.channel().newCall(method, options);
  }

  private Status noEndpoints() {
    String why = pool.lastProblem();
    return Status.UNAVAILABLE.withDescription(
        "no decoder-svc replica is reachable at "
            + pool.target()
            + (why.isEmpty() ? "" : " (" + why + ")"));
  }

  /**
   * One Generate call: held until its request arrives (the key needs it), then started on the
   * chosen replica, and started again on the next one if that replica refuses it before answering.
   */
  private final class PlacedCall extends ClientCall<GenerateRequest, GenerateResponse> {
    private final CallOptions options;
    private final Context context;
    private final Set<Endpoint> tried = new HashSet<>();
    private Listener<GenerateResponse> listener;
    private Metadata headers;
    private GenerateRequest request;
    private long key;
    private int requested;
    private boolean halfClosed;
    private boolean cancelled;
    private ClientCall<GenerateRequest, GenerateResponse> current;

    PlacedCall(CallOptions options, Context context) {
      this.options = options;
      this.context = context;
    }

    @Override
    public void start(Listener<GenerateResponse> responseListener, Metadata headers) {
      this.listener = responseListener;
      this.headers = headers;
    }

    @Override
    public synchronized void request(int numMessages) {
      requested += numMessages;
      if (current != null) current.request(numMessages);
    }

    @Override
    public void sendMessage(GenerateRequest message) {
      synchronized (this) {
        if (request != null) throw new IllegalStateException("Generate takes one request message");
        if (cancelled) return;
        request = message;
        key = prefixKey.key(message);
      }
      attempt();
    }

    @Override
    public synchronized void halfClose() {
      halfClosed = true;
      if (current != null) current.halfClose();
    }

    @Override
    public void cancel(String message, Throwable cause) {
      ClientCall<GenerateRequest, GenerateResponse> c;
      synchronized (this) {
        if (cancelled) return;
        cancelled = true;
        c = current;
      }
      if (c != null) {
        c.cancel(message, cause);
      } else if (listener != null) {
        Status s = Status.CANCELLED.withDescription(message);
        listener.onClose(cause == null ? s : s.withCause(cause), new Metadata());
      }
    }

    /** Starts the call on the best replica not tried yet; fails the call when none is left. */
    private void attempt() {
      Endpoint e;
      ClientCall<GenerateRequest, GenerateResponse> c;
      synchronized (this) {
        if (cancelled) return;
        e = BoundedLoad.pick(key, pool.endpoints(), tried, DecoderRouter.this::load, loadFactor);
        if (e == null) {
          Status s = tried.isEmpty() ? noEndpoints() : lastFailure;
          listener.onClose(s, new Metadata());
          return;
        }
        tried.add(e);
        Context previous = context.attach(); // the caller's deadline, cancellation and trace
        try {
          c = e.channel().newCall(GENERATE, options);
        } finally {
          context.detach(previous);
        }
        current = c;
        e.started();
        Metadata h = new Metadata();
        h.merge(headers);
        c.start(new AttemptListener(e), h);
        if (requested > 0) c.request(requested);
        c.sendMessage(request);
        if (halfClosed) c.halfClose();
      }
    }

    private Status lastFailure = Status.UNAVAILABLE;

    private final class AttemptListener extends Listener<GenerateResponse> {
      private final Endpoint endpoint;
      private boolean answered;

      AttemptListener(Endpoint endpoint) {
        this.endpoint = endpoint;
      }

      @Override
      public void onHeaders(Metadata h) {
        answered = true;
        listener.onHeaders(h);
      }

      @Override
      public void onMessage(GenerateResponse r) {
        answered = true;
        if (r.hasFinal()) {
          GenerateFinal f = r.getFinal();
          endpoint.report(
              new Endpoint.LoadReport(
                  f.getRunningSequences(),
                  f.getQueuedRequests(),
                  f.getKvCacheUsage(),
                  System.nanoTime()));
        }
        listener.onMessage(r);
      }

      @Override
      public void onReady() {
        listener.onReady();
      }

      @Override
      public void onClose(Status status, Metadata trailers) {
        endpoint.finished();
        boolean again;
        synchronized (PlacedCall.this) {
          // nothing reached the caller yet, so placing the call again is invisible to it; CANCELLED
          // counts when the
          // caller did not cancel (a stopping replica cancels its calls)
          again =
              !answered
                  && !cancelled
                  && !context.isCancelled()
                  && (status.getCode() == Status.Code.UNAVAILABLE
                      || status.getCode() == Status.Code.CANCELLED);
          if (again)
            lastFailure =
                status.withDescription(
                    "decoder-svc " + endpoint.id() + ": " + status.getDescription());
        }
        if (again) {
          attempt();
        } else {
          listener.onClose(status, trailers);
        }
      }
    }

    @Override
    public synchronized boolean isReady() {
      return current == null || current.isReady();
    }
  }
}
