package tandem.gateway.grpc;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.decoder.v1.TokenIds;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.Tensor;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.EmbedTimings;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.VisionServiceGrpc;

/** In-process stand-ins for vision-svc and decoder-svc, scripted per test. */
public final class FakeBackends {
  private FakeBackends() {}

  static final int HIDDEN = 4;

  /**
   * Answers every image with the next grid of {@code grids} (cycling), 600x400 pixels; can hang
   * until cancelled.
   */
  public static final class Vision extends VisionServiceGrpc.VisionServiceImplBase {
    final List<int[]> grids;
    final boolean hang;
    public final CountDownLatch cancelled = new CountDownLatch(1);
    public final AtomicReference<EmbedRequest> last = new AtomicReference<>();

    public Vision(List<int[]> grids, boolean hang) {
      this.grids = grids;
      this.hang = hang;
    }

    @Override
    public void embed(EmbedRequest req, StreamObserver<EmbedResponse> out) {
      last.set(req);
      if (hang) {
        ((ServerCallStreamObserver<EmbedResponse>) out).setOnCancelHandler(cancelled::countDown);
        return; // never answers
      }
      EmbedResponse.Builder r = EmbedResponse.newBuilder();
      for (int k = 0; k < req.getImagesCount(); k++) {
        int[] g = grids.get(k % grids.size());
        int tiles = g[0] == 0 ? 1 : g[0] * g[1] + 1;
        int rows = tiles * 64;
        r.addImages(
            ImageEmbedding.newBuilder()
                .setRows(g[0])
                .setCols(g[1])
                .setWidth(600)
                .setHeight(400)
                .setTiles(tiles)
                .setCacheHit(true)
                .setEmbeddings(
                    Tensor.newBuilder()
                        .addShape(rows)
                        .addShape(HIDDEN)
                        .setDtype(DType.DTYPE_FLOAT32)
                        .setData(ByteString.copyFrom(new byte[rows * HIDDEN * 4]))));
      }
      r.setTimings(EmbedTimings.newBuilder().setPreprocessMs(1.5).setEncodeMs(2.5).setTotalMs(4));
      out.onNext(r.build());
      out.onCompleted();
    }
  }

  /**
   * Streams {@code ids} one per message; {@code dieAfter} >= 0 fails the stream after that many
   * tokens.
   */
  public static final class Decoder extends DecoderServiceGrpc.DecoderServiceImplBase {
    final int[] ids;
    final long delayMs;
    final int dieAfter;
    final boolean endless;
    public final CountDownLatch cancelled = new CountDownLatch(1);
    public final CountDownLatch streaming = new CountDownLatch(1);
    public final AtomicReference<GenerateRequest> last = new AtomicReference<>();
    final AtomicReference<String> traceId = new AtomicReference<>();

    /** Reported as the final message's cached_prompt_tokens (prefix-cache reuse). */
    public volatile int cachedPromptTokens;

    /** When set, every call is refused with it, as decoder-svc refuses (status and trailers). */
    public volatile RuntimeException refuseWith;

    public Decoder(int[] ids, long delayMs, int dieAfter, boolean endless) {
      this.ids = ids;
      this.delayMs = delayMs;
      this.dieAfter = dieAfter;
      this.endless = endless;
    }

    @Override
    public void generate(GenerateRequest req, StreamObserver<GenerateResponse> out) {
      last.set(req);
      traceId.set(tandem.common.telemetry.Telemetry.currentTraceId());
      if (refuseWith != null) {
        out.onError(tandem.common.grpc.GrpcRejections.toStatusException(refuseWith));
        return;
      }
      var call = (ServerCallStreamObserver<GenerateResponse>) out;
      call.setOnCancelHandler(cancelled::countDown);
      Thread t =
          new Thread(
              () -> {
                try {
                  for (int k = 0; endless || k < ids.length; k++) {
                    if (call.isCancelled()) return;
                    if (k == dieAfter) {
                      out.onError(
                          Status.UNAVAILABLE
                              .withDescription("decoder crashed")
                              .asRuntimeException());
                      return;
                    }
                    out.onNext(
                        GenerateResponse.newBuilder()
                            .setRequestId(req.getRequestId())
                            .setTokens(TokenIds.newBuilder().addIds(ids[k % ids.length]))
                            .build());
                    streaming.countDown();
                    if (delayMs > 0) TimeUnit.MILLISECONDS.sleep(delayMs);
                  }
                  out.onNext(
                      GenerateResponse.newBuilder()
                          .setRequestId(req.getRequestId())
                          .setFinal(
                              GenerateFinal.newBuilder()
                                  .setFinishReason(FinishReason.FINISH_REASON_STOP)
                                  .setPromptTokens(req.getInputIdsCount())
                                  .setGeneratedTokens(ids.length)
                                  .setPrefillMs(12)
                                  .setDecodeMs(34)
                                  .setTimeToFirstTokenMs(13)
                                  .setCachedPromptTokens(cachedPromptTokens))
                          .build());
                  out.onCompleted();
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                } catch (RuntimeException e) {
                  // the call was cancelled under us
                }
              });
      t.setDaemon(true);
      t.start();
    }
  }
}
