package tandem.vision.grpc;

import com.google.protobuf.ByteString;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.EmbedTimings;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;
import tandem.vision.DTypes;
import tandem.vision.EmbedException;
import tandem.vision.Embedder;

/** Thin RPC layer: proto → {@link Embedder} → proto; {@link EmbedException} kinds become gRPC statuses here only. */
public final class VisionGrpcService extends VisionServiceGrpc.VisionServiceImplBase {
  private static final Logger LOG = Logger.getLogger(VisionGrpcService.class.getName());

  private final Embedder embedder;

  public VisionGrpcService(Embedder embedder) {
    this.embedder = embedder;
  }

  @Override
  public void embed(EmbedRequest request, StreamObserver<EmbedResponse> response) {
    DTypes.Type type;
    switch (request.getOutputDtype()) {
      case DTYPE_UNSPECIFIED, DTYPE_FLOAT32 -> type = DTypes.Type.FLOAT32;
      case DTYPE_FLOAT16 -> type = DTypes.Type.FLOAT16;
      case DTYPE_BFLOAT16 -> type = DTypes.Type.BFLOAT16;
      default -> {
        response.onError(Status.INVALID_ARGUMENT
            .withDescription("output_dtype " + request.getOutputDtypeValue() + " is not allowed (allowed: FLOAT32, FLOAT16, BFLOAT16)")
            .asRuntimeException());
        return;
      }
    }
    if (request.getMaxBatchTiles() < 0) {
      response.onError(Status.INVALID_ARGUMENT
          .withDescription("max_batch_tiles must be >= 0 (0 = server default), got " + request.getMaxBatchTiles())
          .asRuntimeException());
      return;
    }
    List<Embedder.ImageInput> images = new ArrayList<>(request.getImagesCount());
    for (ImageInput in : request.getImagesList())
      images.add(new Embedder.ImageInput(in.getData().toByteArray(), in.getImageId()));
    if (request.getMaxImageTokens() < 0) {
      response.onError(Status.INVALID_ARGUMENT
          .withDescription("max_image_tokens must be >= 0 (0 = no budget), got " + request.getMaxImageTokens())
          .asRuntimeException());
      return;
    }
    // the caller's deadline bounds the wait, and its cancel takes this call's tiles out of the batcher
    Context ctx = Context.current();
    CompletableFuture<Void> cancelled = new CompletableFuture<>();
    Context.CancellationListener onCancel = c -> cancelled.complete(null);
    ctx.addListener(onCancel, Runnable::run);
    long deadline = ctx.getDeadline() == null ? Long.MAX_VALUE
        : System.nanoTime() + ctx.getDeadline().timeRemaining(TimeUnit.NANOSECONDS);
    Embedder.Call call = new Embedder.Call(request.getClientScope(), request.getMaxImageTokens(), deadline, cancelled);
    Embedder.Result r;
    try {
      r = embedder.embed(images, type, request.getMaxBatchTiles(), call);
    } catch (EmbedException e) {
      if (e.kind() == EmbedException.Kind.INTERNAL) LOG.log(Level.WARNING, "embed failed", e);
      response.onError(status(e).withDescription(e.getMessage()).asRuntimeException());
      return;
    } catch (RuntimeException | Error e) {
      LOG.log(Level.WARNING, "embed failed", e);
      response.onError(Status.INTERNAL.withDescription("embed failed: " + e).asRuntimeException());
      return;
    } finally {
      ctx.removeListener(onCancel);
    }
    EmbedResponse.Builder out = EmbedResponse.newBuilder().setModelId(r.modelId())
        .setTimings(EmbedTimings.newBuilder().setPreprocessMs(r.preprocessMs()).setEncodeMs(r.encodeMs()).setTotalMs(r.totalMs())
            .setMaxBatchTiles(r.maxBatchTiles()));
    for (Embedder.ImageOutput o : r.images()) {
      var e = o.embedding();
      out.addImages(ImageEmbedding.newBuilder()
          .setRows(e.rows()).setCols(e.cols()).setWidth(e.width()).setHeight(e.height()).setTiles(e.tiles())
          .setCacheHit(o.cacheHit()).setContentHash(o.contentHash())
          .setEmbeddings(Tensor.newBuilder()
              .addShape((long) e.tiles() * e.tokensPerTile()).addShape(e.hidden())
              .setDtype(dtype(o.type()))
              .setData(ByteString.copyFrom(o.data()))));
    }
    response.onNext(out.build());
    response.onCompleted();
  }

  static DType dtype(DTypes.Type t) {
    return switch (t) {
      case FLOAT32 -> DType.DTYPE_FLOAT32;
      case FLOAT16 -> DType.DTYPE_FLOAT16;
      case BFLOAT16 -> DType.DTYPE_BFLOAT16;
    };
  }

  static Status status(EmbedException e) {
    return switch (e.kind()) {
      case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
      case NOT_FOUND -> Status.NOT_FOUND;
      case UNAVAILABLE -> Status.UNAVAILABLE;
      case INTERNAL -> Status.INTERNAL;
      case DEADLINE_EXCEEDED -> Status.DEADLINE_EXCEEDED;
      case CANCELLED -> Status.CANCELLED;
    };
  }
}
