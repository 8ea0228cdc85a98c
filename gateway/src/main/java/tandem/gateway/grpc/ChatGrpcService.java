package tandem.gateway.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import tandem.gateway.Gateway;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/** Thin gRPC binding of {@link Gateway}: every exception becomes a status here, in one place. */
public final class ChatGrpcService extends ChatServiceGrpc.ChatServiceImplBase {
  private final Gateway gateway;

  public ChatGrpcService(Gateway gateway) {
    this.gateway = gateway;
  }

  @Override
  public void chat(ChatRequest request, StreamObserver<ChatChunk> out) {
    try {
      gateway.chat(request, out);
    } catch (StatusRuntimeException e) {
      out.onError(e);
    } catch (IllegalArgumentException e) {
      out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
    } catch (RuntimeException | Error e) { // an OutOfMemoryError in one chat fails that chat, with a status
      out.onError(Status.INTERNAL.withDescription("gateway: " + e).withCause(e).asRuntimeException());
    }
  }
}
