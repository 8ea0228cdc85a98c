package tandem.gateway.grpc;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;
import tandem.common.error.Rejection;
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
 * The gRPC front door of the {@link ChatPipeline}: proto → {@link ChatInput}, events → chunks, and every refusal
 * becomes a status here, in one place ({@link #status}). The client's deadline, cancel and image scope (from
 * {@link ClientLimiter}) go into the chat's {@link CallScope}.
 */
public final class ChatGrpcService extends ChatServiceGrpc.ChatServiceImplBase {
  private final ChatPipeline pipeline;

  public ChatGrpcService(ChatPipeline pipeline) {
    this.pipeline = pipeline;
  }

  @Override
  public void chat(ChatRequest request, StreamObserver<ChatChunk> out) {
    try {
      ChatInput in = ProtoChat.input(request, pipeline.limits().input());
      String imageScope = ClientLimiter.IMAGE_SCOPE.get();
      io.grpc.Deadline deadline = Context.current().getDeadline();
      CallScope scope = deadline != null
          ? CallScope.withDeadline(imageScope, deadline.timeRemaining(TimeUnit.NANOSECONDS))
          : CallScope.of(imageScope);
      if (out instanceof ServerCallStreamObserver<ChatChunk> call) call.setOnCancelHandler(scope::cancel);
      pipeline.chat(in, scope, new Sink(in.requestId(), out));
    } catch (Rejection r) {
      out.onError(status(r));
    } catch (IllegalArgumentException e) {
      out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
    } catch (RuntimeException | Error e) { // an OutOfMemoryError in one chat fails that chat, with a status
      out.onError(Status.INTERNAL.withDescription("gateway: " + e).withCause(e).asRuntimeException());
    }
  }

  /** A refusal as a gRPC status: the kind's canonical code, the message as the description. */
  public static StatusRuntimeException status(Rejection r) {
    return Status.fromCode(Status.Code.valueOf(r.kind().code())).withDescription(r.getMessage()).asRuntimeException();
  }

  /** Answer events as chunks: a delta, then a chunk per box it closed; the final chunk ends the stream. */
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
        if (!d.text().isEmpty()) out.onNext(ChatChunk.newBuilder().setRequestId(requestId).setDelta(d.text()).build());
        for (ChatEvent.BoxResult b : d.boxes()) {
          out.onNext(ChatChunk.newBuilder().setRequestId(requestId).setBox(ProtoChat.box(b)).build());
        }
      } else if (e instanceof ChatEvent.Done done) {
        out.onNext(ProtoChat.finalChunk(done.result()));
        out.onCompleted();
      }
    }

    @Override
    public void fail(Rejection r) {
      out.onError(status(r));
    }
  }
}
