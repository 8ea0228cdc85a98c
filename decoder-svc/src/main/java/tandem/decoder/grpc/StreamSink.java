package tandem.decoder.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import java.util.Arrays;
import tandem.decoder.generate.GenerationListener;
import tandem.decoder.generate.GenerationResult;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.decoder.v1.TokenIds;
import tandem.proto.types.v1.FinishReason;

/**
 * Bridges the scheduler thread to one response stream without ever blocking it: tokens are sent as
 * they come while the transport is ready; while it is not, they pile up here (a few bytes each) and
 * go out together, in one message, from the on-ready callback. So a slow client slows only its own
 * stream.
 */
final class StreamSink implements GenerationListener {
  private final ServerCallStreamObserver<GenerateResponse> call;
  private final String requestId;
  private int[] pending = new int[8];
  private int pendingCount;
  private GenerationResult result;
  private boolean completed;

  StreamSink(ServerCallStreamObserver<GenerateResponse> call, String requestId) {
    this.call = call;
    this.requestId = requestId;
  }

  @Override
  public void onToken(int id) {
    synchronized (this) {
      if (pendingCount == pending.length) pending = Arrays.copyOf(pending, pendingCount * 2);
      pending[pendingCount++] = id;
    }
    drain();
  }

  @Override
  public void onFinish(GenerationResult r) {
    synchronized (this) {
      result = r;
    }
    drain();
  }

  /** Sends what it can; called by the scheduler and by the transport's on-ready handler. */
  synchronized void drain() {
    if (completed) return;
    if (call.isCancelled()) {
      completed = true;
      return;
    }
    while (call.isReady()) {
      if (pendingCount > 0) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int i = 0; i < pendingCount; i++) ids.addIds(pending[i]);
        pendingCount = 0;
        call.onNext(GenerateResponse.newBuilder().setRequestId(requestId).setTokens(ids).build());
      } else if (result != null) {
        call.onNext(
            GenerateResponse.newBuilder()
                .setRequestId(requestId)
                .setFinal(toProto(result))
                .build());
        call.onCompleted();
        completed = true;
        return;
      } else {
        return;
      }
    }
  }

  static GenerateFinal toProto(GenerationResult r) {
    return GenerateFinal.newBuilder()
        .setFinishReason(
            switch (r.reason()) {
              case STOP -> FinishReason.FINISH_REASON_STOP;
              case LENGTH -> FinishReason.FINISH_REASON_LENGTH;
              case CANCELLED -> FinishReason.FINISH_REASON_CANCELLED;
              case ERROR -> FinishReason.FINISH_REASON_ERROR;
            })
        .setPromptTokens(r.promptTokens())
        .setGeneratedTokens(r.generatedTokens())
        .setTimeToFirstTokenMs(r.timeToFirstTokenMs())
        .setDecodeMs(r.decodeMs())
        .setQueueMs(r.queueMs())
        .setPrefillMs(r.prefillMs())
        .setStepModelMs(r.stepModelMs())
        .setStepTotalMs(r.stepTotalMs())
        .setError(r.error())
        .setCachedPromptTokens(r.cachedPromptTokens())
        .setKvCacheUsage(r.kvCacheUsage())
        .setRunningSequences(r.runningSequences())
        .setQueuedRequests(r.queuedRequests())
        .build();
  }
}
