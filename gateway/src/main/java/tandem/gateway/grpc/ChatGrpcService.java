package tandem.gateway.grpc;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.error.Rejection;
import tandem.common.grpc.GrpcRejections;
import tandem.gateway.limits.ClientLimiter;
import tandem.gateway.pipeline.CallScope;
import tandem.gateway.pipeline.ChatEvent;
import tandem.gateway.pipeline.ChatInput;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.ChatSink;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * The gRPC front door of the {@link ChatPipeline}: proto → {@link ChatInput}, events → chunks;
 * every refusal becomes a status through common's {@link GrpcRejections}, as in the other services.
 * The client's deadline, cancel and image scope (from {@link ClientLimiter}) go into the chat's
 * {@link CallScope}.
 */
public final class ChatGrpcService extends ChatServiceGrpc.ChatServiceImplBase {
  private static final Logger LOG = LoggerFactory.getLogger(ChatGrpcService.class);
  private final ChatPipeline pipeline;

  public ChatGrpcService(ChatPipeline pipeline) {
    this.pipeline = pipeline;
  }

  @Override
  public void chat(ChatRequest request, StreamObserver<ChatChunk> out) {
    try {
      ChatInput in = ProtoChat.input(request, pipeline.limits().input());
      String imageScope = ClientLimiter.IMAGE_SCOPE.get();
      Deadline deadline = Context.current().getDeadline();
      CallScope scope =
          deadline != null
              ? CallScope.withDeadline(imageScope, deadline.timeRemaining(TimeUnit.NANOSECONDS))
              : CallScope.of(imageScope);
      // gRPC cancels the call's Context before it runs the cancel handler, and that cancel reaches
      // the decoder call (a child Context) at once: its CANCELLED error could then be taken for a
      // decoder failure and end the chat as "error". A Context tells its listeners in the order
      // they were added (its own before its children's), and this one is added before any backend
      // call starts, so the scope is cancelled first. The handler stays for a call whose Context
      // cannot be cancelled.
      Context.current().addListener(c -> scope.cancel(), Runnable::run);
      if (out instanceof ServerCallStreamObserver<ChatChunk> call)
        call.setOnCancelHandler(scope::cancel);
      pipeline.chat(in, scope, new Sink(in.requestId(), out));
    } catch (RuntimeException
        | Error e) { // an OutOfMemoryError in one chat fails that chat, with a status
      Throwable r = refusal(e);
      logInternal(request.getRequestId(), r);
      out.onError(GrpcRejections.toStatusException(r));
    }
  }

  /**
   * A chat that ends with INTERNAL is this system's fault, not the client's: the operator sees it
   * in the log, with its cause, as well as in the trace.
   */
  static void logInternal(String requestId, Throwable t) {
    // by the one mapping the client's status comes from
    if (GrpcRejections.status(t).getCode() != Status.Code.INTERNAL) return;
    LOG.warn("chat {} failed with INTERNAL: {}", requestId, t.getMessage(), t);
  }

  /**
   * What a chat that failed at once tells its client: a refusal, or a bad argument
   * (INVALID_ARGUMENT), with its own message; anything else is the gateway's fault (INTERNAL,
   * saying so).
   */
  static Throwable refusal(Throwable e) {
    if (e instanceof Rejection || e instanceof IllegalArgumentException) return e;
    return Rejection.internal("gateway: " + e, e);
  }

  /**
   * Answer events as chunks: a delta, then a chunk per box it closed; the final chunk ends the
   * stream.
   */
  private static final class Sink implements ChatSink {
    private final String requestId;
    private final StreamObserver<ChatChunk> out;

    Sink(String requestId, StreamObserver<ChatChunk> out) {
      this.requestId = requestId;
      this.out = out;
    }

    @Override
    public void event(ChatEvent e) {
      if (e instanceof ChatEvent.Delta d) {
        if (!d.text().isEmpty())
          out.onNext(ChatChunk.newBuilder().setRequestId(requestId).setDelta(d.text()).build());
        for (ChatEvent.BoxResult b : d.boxes()) {
          out.onNext(
              ChatChunk.newBuilder().setRequestId(requestId).setBox(ProtoChat.box(b)).build());
        }
      } else if (e instanceof ChatEvent.Done done) {
        out.onNext(ProtoChat.finalChunk(done.result()));
        out.onCompleted();
      }
    }

    @Override
    public void fail(Rejection r) {
      logInternal(requestId, r);
      out.onError(GrpcRejections.toStatusException(r));
    }
  }
}
