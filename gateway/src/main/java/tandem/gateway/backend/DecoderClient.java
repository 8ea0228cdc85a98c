package tandem.gateway.backend;

import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;
import tandem.common.error.Rejection;
import tandem.gateway.pipeline.CallScope;
import tandem.gateway.pipeline.DecoderBackend;
import tandem.gateway.pipeline.FinishReason;
import tandem.gateway.pipeline.Sampling;
import tandem.gateway.pipeline.VisionBackend;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.GenerationParams;

/**
 * decoder-svc over gRPC: the only code that holds its stub. The call runs in a cancellable fork of
 * the current gRPC context, so a gRPC client's cancel and deadline reach it as before, and the
 * chat's {@link CallScope} (an HTTP client that went away, a stop string) cancels it too;
 * cancelling frees the decoder's sequence.
 */
public final class DecoderClient implements DecoderBackend {
  private final DecoderServiceGrpc.DecoderServiceStub stub;
  private final String name;
  private final int defaultDeadlineSeconds;

  /**
   * @param name used in errors, e.g. {@code decoder-svc (10.0.0.4:50053)}
   */
  public DecoderClient(Channel channel, String name, int defaultDeadlineSeconds) {
    this.stub = DecoderServiceGrpc.newStub(channel);
    this.name = name;
    this.defaultDeadlineSeconds = defaultDeadlineSeconds;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public Generation generate(Request req, CallScope scope, Listener listener) {
    GenerateRequest.Builder gen = GenerateRequest.newBuilder().setRequestId(req.requestId());
    for (VisionBackend.EmbeddingHandle h : req.imageEmbeddings()) {
      gen.addImageEmbeddings(((VisionClient.ProtoEmbedding) h).tensor());
    }
    for (int id : req.inputIds()) gen.addInputIds(id);
    gen.setImageTokenId(req.imageTokenId());
    GenerationParams p = params(req.sampling());
    if (!p.equals(GenerationParams.getDefaultInstance())) gen.setParams(p);
    Context.CancellableContext ctx = Context.current().withCancellation();
    Generation g = () -> ctx.cancel(null);
    scope.onCancel(g::cancel);
    long wait = scope.remainingNanosOr(defaultDeadlineSeconds);
    ctx.run(
        () ->
            stub.withDeadlineAfter(Math.max(0, wait), TimeUnit.NANOSECONDS)
                .generate(
                    gen.build(),
                    new StreamObserver<>() {
                      @Override
                      public void onNext(GenerateResponse r) {
                        if (r.hasTokens()) {
                          int n = r.getTokens().getIdsCount();
                          int[] ids = new int[n];
                          for (int i = 0; i < n; i++) ids[i] = r.getTokens().getIds(i);
                          listener.tokens(ids);
                        } else if (r.hasFinal()) {
                          GenerateFinal f = r.getFinal();
                          listener.finalReport(
                              new Final(
                                  reason(f.getFinishReason()),
                                  f.getPromptTokens(),
                                  f.getGeneratedTokens(),
                                  f.getPrefillMs(),
                                  f.getDecodeMs(),
                                  f.getCachedPromptTokens(),
                                  f.getError()));
                        }
                      }

                      @Override
                      public void onError(Throwable t) {
                        ctx.cancel(null);
                        listener.failed(
                            BackendErrors.of(
                                name,
                                t,
                                scope.hasDeadline(),
                                defaultDeadlineSeconds,
                                Rejection.Kind.OVERLOADED));
                      }

                      @Override
                      public void onCompleted() {
                        ctx.cancel(null);
                        listener.completed();
                      }
                    }));
    return g;
  }

  static FinishReason reason(tandem.proto.types.v1.FinishReason r) {
    return switch (r) {
      case FINISH_REASON_STOP -> FinishReason.STOP;
      case FINISH_REASON_LENGTH -> FinishReason.LENGTH;
      case FINISH_REASON_CANCELLED -> FinishReason.CANCELLED;
      default -> FinishReason.ERROR;
    };
  }

  /**
   * The parameters the client set, and only those (unset ones take the checkpoint's defaults in
   * decoder-svc).
   */
  static GenerationParams params(Sampling s) {
    GenerationParams.Builder b = GenerationParams.newBuilder();
    if (s.maxNewTokens() != null) b.setMaxNewTokens(s.maxNewTokens());
    if (s.minNewTokens() != null) b.setMinNewTokens(s.minNewTokens());
    if (s.noRepeatNgramSize() != null) b.setNoRepeatNgramSize(s.noRepeatNgramSize());
    if (s.temperature() != null) b.setTemperature(s.temperature());
    if (s.topP() != null) b.setTopP(s.topP());
    if (s.topK() != null) b.setTopK(s.topK());
    if (s.seed() != null) b.setSeed(s.seed());
    if (s.repetitionPenalty() != null) b.setRepetitionPenalty(s.repetitionPenalty());
    b.addAllStopTokenIds(s.stopTokenIds());
    return b.build();
  }
}
