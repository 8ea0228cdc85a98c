package tandem.vision.grpc;

import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.error.Rejection;
import tandem.common.grpc.GrpcRejections;
import tandem.proto.types.v1.DType;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.EmbedTimings;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.embed.Embedder;

/**
 * Thin RPC layer: proto → {@link Embedder#embed} → proto. The caller's deadline and cancel travel
 * with the call; a failure becomes its status through {@link GrpcRejections}.
 */
public final class VisionGrpcService extends VisionServiceGrpc.VisionServiceImplBase {
  private static final Logger LOG = LoggerFactory.getLogger(VisionGrpcService.class);

  private final Embedder embedder;

  public VisionGrpcService(Embedder embedder) {
    this.embedder = embedder;
  }

  @Override
  public void embed(EmbedRequest request, StreamObserver<EmbedResponse> response) {
    // the caller's deadline bounds the wait, and its cancel takes this call's tiles out of the
    // batcher
    Context ctx = Context.current();
    CompletableFuture<Void> cancelled = new CompletableFuture<>();
    Context.CancellationListener onCancel = c -> cancelled.complete(null);
    ctx.addListener(onCancel, Runnable::run);
    Embedder.Result r;
    try {
      DType type = outputType(request);
      long deadline =
          ctx.getDeadline() == null
              ? Long.MAX_VALUE
              : System.nanoTime() + ctx.getDeadline().timeRemaining(TimeUnit.NANOSECONDS);
      Embedder.Call call =
          new Embedder.Call(
              request.getClientScope(), request.getMaxImageTokens(), deadline, cancelled);
      r = embedder.embed(images(request), type, request.getMaxBatchTiles(), call);
    } catch (Rejection e) {
      if (e.kind() == Rejection.Kind.INTERNAL) LOG.warn("embed failed", e);
      response.onError(GrpcRejections.toStatusException(e));
      return;
    } catch (RuntimeException | Error e) {
      LOG.warn("embed failed", e);
      response.onError(
          GrpcRejections.toStatusException(Rejection.internal("embed failed: " + e, e)));
      return;
    } finally {
      ctx.removeListener(onCancel);
    }
    response.onNext(response(r));
    response.onCompleted();
  }

  static DType outputType(EmbedRequest request) {
    return switch (request.getOutputDtype()) {
      case DTYPE_UNSPECIFIED, DTYPE_FLOAT32 -> DType.DTYPE_FLOAT32;
      case DTYPE_FLOAT16 -> DType.DTYPE_FLOAT16;
      case DTYPE_BFLOAT16 -> DType.DTYPE_BFLOAT16;
      default ->
          throw Rejection.invalid(
              "output_dtype "
                  + request.getOutputDtypeValue()
                  + " is not allowed (allowed: FLOAT32, FLOAT16, BFLOAT16)");
    };
  }

  static List<Embedder.ImageInput> images(EmbedRequest request) {
    List<Embedder.ImageInput> images = new ArrayList<>(request.getImagesCount());
    for (ImageInput in : request.getImagesList()) {
      images.add(new Embedder.ImageInput(in.getData().toByteArray(), in.getImageId()));
    }
    return images;
  }

  static EmbedResponse response(Embedder.Result r) {
    EmbedResponse.Builder out =
        EmbedResponse.newBuilder()
            .setModelId(r.modelId())
            .setTimings(
                EmbedTimings.newBuilder()
                    .setPreprocessMs(r.preprocessMs())
                    .setEncodeMs(r.encodeMs())
                    .setTotalMs(r.totalMs())
                    .setMaxBatchTiles(r.maxBatchTiles()));
    for (Embedder.ImageOutput o : r.images()) {
      CachedEmbedding e = o.embedding();
      out.addImages(
          ImageEmbedding.newBuilder()
              .setRows(e.rows())
              .setCols(e.cols())
              .setWidth(e.width())
              .setHeight(e.height())
              .setTiles(e.tiles())
              .setCacheHit(o.cacheHit())
              .setContentHash(o.contentHash())
              .setEmbeddings(o.tensor()));
    }
    return out.build();
  }
}
