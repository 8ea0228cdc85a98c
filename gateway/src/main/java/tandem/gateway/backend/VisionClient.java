package tandem.gateway.backend;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Channel;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tandem.common.error.Rejection;
import tandem.gateway.pipeline.CallScope;
import tandem.gateway.pipeline.ImageInput;
import tandem.gateway.pipeline.VisionBackend;
import tandem.proto.types.v1.Tensor;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * vision-svc over gRPC: the only code that holds its stub. The call carries the client's deadline
 * (or the gateway's default) and is cancelled with the chat's {@link CallScope}; a failure becomes
 * a {@link Rejection} naming vision-svc.
 */
public final class VisionClient implements VisionBackend {
  /** vision-svc's budget refusal: "the images need N image tokens (…)". */
  private static final Pattern NEED = Pattern.compile("need (\\d+) image tokens");

  private final VisionServiceGrpc.VisionServiceFutureStub stub;
  private final String name;
  private final int defaultDeadlineSeconds;

  /**
   * @param name used in errors, e.g. {@code vision-svc (10.0.0.3:50052)}
   */
  public VisionClient(Channel channel, String name, int defaultDeadlineSeconds) {
    this.stub = VisionServiceGrpc.newFutureStub(channel);
    this.name = name;
    this.defaultDeadlineSeconds = defaultDeadlineSeconds;
  }

  @Override
  public String name() {
    return name;
  }

  /** The embeddings exactly as vision-svc sent them. */
  record ProtoEmbedding(Tensor tensor) implements EmbeddingHandle {}

  @Override
  public Embedded embed(List<ImageInput> images, long maxImageTokens, CallScope scope) {
    EmbedRequest.Builder er =
        EmbedRequest.newBuilder()
            .setMaxImageTokens((int) Math.min(Integer.MAX_VALUE, maxImageTokens))
            .setClientScope(scope.imageScope());
    for (ImageInput img : images) {
      er.addImages(
          tandem.proto.vision.v1.ImageInput.newBuilder()
              .setData(UnsafeByteOperations.unsafeWrap(img.data().duplicate()))
              .setImageId(img.imageId()));
    }
    long waitNanos = scope.remainingNanosOr(defaultDeadlineSeconds);
    ListenableFuture<EmbedResponse> call =
        stub.withDeadlineAfter(Math.max(0, waitNanos), TimeUnit.NANOSECONDS).embed(er.build());
    scope.onCancel(() -> call.cancel(true));
    EmbedResponse r;
    try {
      // the call has a deadline, so it ends by then; the wait is bounded anyway
      r = call.get(Math.max(0, waitNanos) + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      call.cancel(true);
      throw new Rejection(Rejection.Kind.DEADLINE, "deadline exceeded waiting for " + name);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      call.cancel(true);
      throw new Rejection(Rejection.Kind.CANCELLED, "interrupted");
    } catch (java.util.concurrent.CancellationException e) {
      throw new Rejection(Rejection.Kind.CANCELLED, "cancelled while waiting for " + name);
    } catch (ExecutionException e) {
      Status st = Status.fromThrowable(e.getCause());
      if (st.getCode() == Status.Code.INVALID_ARGUMENT
          && st.getDescription() != null
          && st.getDescription().contains("max_image_tokens")) {
        Matcher m = NEED.matcher(st.getDescription());
        throw new ImageBudgetExceeded(
            m.find() ? Long.parseLong(m.group(1)) : -1, st.getDescription());
      }
      throw BackendErrors.of(
          name,
          e.getCause(),
          scope.hasDeadline(),
          defaultDeadlineSeconds,
          Rejection.Kind.TOO_LARGE);
    }
    if (r.getImagesCount() != images.size()) {
      throw new Rejection(
          Rejection.Kind.INTERNAL,
          name
              + " returned "
              + r.getImagesCount()
              + " embeddings for "
              + images.size()
              + " images");
    }
    List<Image> out = new ArrayList<>();
    for (ImageEmbedding ie : r.getImagesList()) {
      long rows = ie.getEmbeddings().getShapeCount() > 0 ? ie.getEmbeddings().getShape(0) : -1;
      out.add(
          new Image(
              ie.getRows(),
              ie.getCols(),
              ie.getWidth(),
              ie.getHeight(),
              ie.getTiles(),
              rows,
              ie.getCacheHit(),
              new ProtoEmbedding(ie.getEmbeddings())));
    }
    return new Embedded(
        out, r.getTimings().getPreprocessMs(), r.getTimings().getEncodeMs(), r.getModelId());
  }
}
