package tandem.decoder.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import tandem.common.grpc.GrpcRejections;
import tandem.common.tensor.TensorCodec;
import tandem.decoder.generate.GenerationDefaults;
import tandem.decoder.generate.GenerationListener;
import tandem.decoder.generate.GenerationOverrides;
import tandem.decoder.generate.GenerationRequest;
import tandem.decoder.generate.GenerationSettings;
import tandem.decoder.generate.Scheduler;
import tandem.decoder.telemetry.DecoderTelemetry;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.GenerationParams;

/**
 * {@code DecoderService.Generate}: translates the request, hands it to the {@link Scheduler},
 * streams what comes back. A malformed request or the scheduler's refusal ({@code Rejection})
 * becomes its status through {@link GrpcRejections}, the one mapping; a client cancel or an expired
 * deadline cancels the sequence.
 */
public final class DecoderGrpcService extends DecoderServiceGrpc.DecoderServiceImplBase {
  private final Scheduler scheduler;
  private final GenerationDefaults defaults;
  private final int hiddenSize;
  private final int defaultImageTokenId;
  private final LongSupplier seeds;
  private final DecoderTelemetry telemetry;

  /**
   * @param defaultImageTokenId used when a request leaves image_token_id at 0 (the checkpoint's
   *     image_token_id)
   * @param seeds seeds for sampling requests that set none
   */
  public DecoderGrpcService(
      Scheduler scheduler,
      GenerationDefaults defaults,
      int hiddenSize,
      int defaultImageTokenId,
      LongSupplier seeds) {
    this(scheduler, defaults, hiddenSize, defaultImageTokenId, seeds, DecoderTelemetry.noop());
  }

  /**
   * @param telemetry makes each request's {@code generate} span and records its timings
   */
  public DecoderGrpcService(
      Scheduler scheduler,
      GenerationDefaults defaults,
      int hiddenSize,
      int defaultImageTokenId,
      LongSupplier seeds,
      DecoderTelemetry telemetry) {
    this.telemetry = telemetry;
    this.scheduler = scheduler;
    this.defaults = defaults;
    this.hiddenSize = hiddenSize;
    this.defaultImageTokenId = defaultImageTokenId;
    this.seeds = seeds;
  }

  @Override
  public void generate(GenerateRequest req, StreamObserver<GenerateResponse> observer) {
    ServerCallStreamObserver<GenerateResponse> call =
        (ServerCallStreamObserver<GenerateResponse>) observer;
    GenerationRequest request;
    try {
      request = toDomain(req);
    } catch (IllegalArgumentException e) {
      call.onError(GrpcRejections.toStatusException(e));
      return;
    }
    StreamSink sink = new StreamSink(call, req.getRequestId());
    AtomicReference<Scheduler.Handle> handle = new AtomicReference<>();
    // Both handlers must be set before this method returns; the handle arrives just after.
    call.setOnReadyHandler(sink::drain);
    call.setOnCancelHandler(
        () -> {
          Scheduler.Handle h = handle.get();
          if (h != null) h.cancel();
        });
    GenerationListener listener = telemetry.listen(request, sink);
    try {
      handle.set(scheduler.submit(request, listener));
    } catch (
        RuntimeException
            e) { // a Rejection, or a bug: either way the span ends and the call gets its status
      telemetry.rejected(listener, e);
      call.onError(GrpcRejections.toStatusException(e));
      return;
    }
    if (call.isCancelled()) handle.get().cancel(); // cancelled while we were submitting
  }

  private GenerationRequest toDomain(GenerateRequest req) {
    int[] ids = req.getInputIdsList().stream().mapToInt(Integer::intValue).toArray();
    float[] rows =
        TensorCodec.decodeRows(req.getImageEmbeddingsList(), hiddenSize, "image_embeddings");
    int imageTokenId = req.getImageTokenId() != 0 ? req.getImageTokenId() : defaultImageTokenId;
    GenerationSettings settings = defaults.resolve(overrides(req.getParams()), seeds);
    return new GenerationRequest(req.getRequestId(), ids, rows, imageTokenId, settings);
  }

  static GenerationOverrides overrides(GenerationParams p) {
    return new GenerationOverrides(
        p.hasMaxNewTokens() ? p.getMaxNewTokens() : null,
        p.hasMinNewTokens() ? p.getMinNewTokens() : null,
        p.hasNoRepeatNgramSize() ? p.getNoRepeatNgramSize() : null,
        p.hasTemperature() ? p.getTemperature() : null,
        p.hasTopP() ? p.getTopP() : null,
        p.hasTopK() ? p.getTopK() : null,
        p.hasSeed() ? p.getSeed() : null,
        p.hasRepetitionPenalty() ? p.getRepetitionPenalty() : null,
        p.getStopTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
  }
}
