package tandem.vision.embed;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import tandem.common.error.Rejection;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.config.VisionSettings;
import tandem.vision.preprocess.ImageDecodeException;

/**
 * Wait: one image's embedding, ready (a hit) or computed by this call or another, until the call's
 * deadline or its cancel; a failure becomes a {@link Rejection} that names the image of this
 * request.
 */
final class Waits {
  private Waits() {}

  static CachedEmbedding await(
      int index, EmbeddingCache.Lookup lookup, long deadline, CompletableFuture<Void> cancelled) {
    CompletableFuture<CachedEmbedding> f = lookup.embedding();
    boolean joined = lookup.source() == EmbeddingCache.Source.JOINED;
    try {
      long left = deadline - System.nanoTime();
      if (left <= 0 && !f.isDone()) throw new TimeoutException();
      // a cancelled caller stops waiting at once, even on an image another call is computing
      CompletableFuture.anyOf(f, cancelled).get(Math.max(0, left), TimeUnit.NANOSECONDS);
      if (!f.isDone())
        throw Rejection.cancelled("the caller cancelled while image " + index + " was encoding");
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw Rejection.unavailable("interrupted while encoding image " + index);
    } catch (TimeoutException e) {
      throw Rejection.deadline(
          "image "
              + index
              + " was not encoded in time (the caller's deadline, or "
              + VisionSettings.MAX_WAIT_SECONDS.env()
              + ")");
    } catch (CancellationException e) {
      if (joined && !cancelled.isDone())
        throw new OwnerGone("image " + index + ": the call encoding it was cancelled");
      throw Rejection.cancelled("image " + index + ": encoding was cancelled");
    } catch (ExecutionException e) {
      throw failure(index, e.getCause(), joined && !cancelled.isDone());
    }
  }

  /**
   * Why image {@code index} has no embedding; {@code mayRetry}: this call joined another's encoding
   * and is alive.
   */
  private static RuntimeException failure(int index, Throwable c, boolean mayRetry) {
    if (mayRetry && (c instanceof OwnerGone || c instanceof CancellationException)) {
      return new OwnerGone("image " + index + ": the call encoding it ended early");
    }
    if (c instanceof ImageDecodeException d) {
      return new Rejection(Rejection.Kind.INVALID, "image " + index + ": " + d.getMessage(), d);
    }
    if (c instanceof Rejection x)
      return new Rejection(x.kind(), "image " + index + ": " + x.getMessage(), x);
    if (c instanceof RejectedExecutionException r) {
      return new Rejection(Rejection.Kind.UNAVAILABLE, "image " + index + ": " + r.getMessage(), r);
    }
    if (c instanceof CancellationException) {
      return Rejection.cancelled(
          "image " + index + ": encoding was cancelled by its caller; retry");
    }
    return Rejection.internal("image " + index + ": encoding failed: " + c, c);
  }
}
