package tandem.vision;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import tandem.common.config.ServiceDefaults;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;
import tandem.vision.telemetry.EmbedTrace;

/**
 * The vision service's domain logic: image bytes → (cache | decode → preprocess → batched tower) → embeddings. A
 * request is checked whole before any work (sizes, ids); then every image is looked up in the cache, misses are
 * preprocessed, and all their tiles are handed to the batcher together so they share forward passes.
 */
public final class Embedder {
  /** One image of a request: bytes (may be empty when {@code imageId} names a known image) and an optional id. */
  public record ImageInput(byte[] data, String imageId) {}

  /** One image's answer; {@code data} is [tiles·tokens, hidden] in the requested element type. */
  public record ImageOutput(CachedEmbedding embedding, boolean cacheHit, String contentHash, DTypes.Type type, byte[] data) {}

  /** The whole answer, in request order. */
  public record Result(
      List<ImageOutput> images, double preprocessMs, double encodeMs, double totalMs, String modelId, int maxBatchTiles) {}

  /** Largest number of client image ids remembered (least recently used forgotten first). */
  public static final int MAX_IMAGE_IDS = 100_000;

  private final TileBatcher batcher;
  private final EmbeddingCache cache;
  private final ImageIdRegistry ids;
  private final PreprocessorConfig preprocessor;
  private final ImageDecoder decoder;
  private final EmbedLimits limits;
  private final String modelId;
  private final String preprocessKey;
  private final int tokensPerTile;
  private final int hidden;
  private final Tracer tracer;

  public Embedder(
      TileBatcher batcher, EmbeddingCache cache, ImageIdRegistry ids, PreprocessorConfig preprocessor,
      EmbedLimits limits, String modelId, int tokensPerTile, int hidden) {
    this(batcher, cache, ids, preprocessor, limits, modelId, tokensPerTile, hidden,
        OpenTelemetry.noop().getTracer(EmbedTrace.SCOPE));
  }

  /** @param tracer makes the {@code embed} span and its stage children (docs/observability.md) */
  public Embedder(
      TileBatcher batcher, EmbeddingCache cache, ImageIdRegistry ids, PreprocessorConfig preprocessor,
      EmbedLimits limits, String modelId, int tokensPerTile, int hidden, Tracer tracer) {
    this.tracer = tracer;
    this.batcher = batcher;
    this.cache = cache;
    this.ids = ids;
    this.preprocessor = preprocessor;
    this.limits = limits;
    // No EXIF rotation: Hugging Face's processor sees the image as PIL.Image.open loads it (unrotated).
    this.decoder = new ImageDecoder(limits.maxImageBytes(), limits.maxImagePixels(), false);
    this.modelId = modelId;
    this.preprocessKey = preprocessor.cacheKey() + ";exif=false";
    this.tokensPerTile = tokensPerTile;
    this.hidden = hidden;
  }

  public String modelId() {
    return modelId;
  }

  public EmbeddingCache cache() {
    return cache;
  }

  /** A miss this call must compute: its cache future is completed once the tiles are encoded. */
  private record Pending(int index, byte[] data, CompletableFuture<CachedEmbedding> result) {}

  /**
   * How one call runs beyond its images.
   *
   * @param clientScope the tenant its image ids belong to ("" for callers that name none)
   * @param maxImageTokens most image tokens (tiles × tokens per tile over all images) the caller can still use;
   *     checked from the headers and the cache before anything is decoded; 0 = no budget
   * @param deadlineNanos {@link System#nanoTime()} by which the call gives up waiting (DEADLINE_EXCEEDED);
   *     {@link Long#MAX_VALUE} = the server's longest wait
   * @param cancelled completes when the caller goes away: this call's tiles leave the batcher's queue
   */
  public record Call(String clientScope, int maxImageTokens, long deadlineNanos, CompletableFuture<Void> cancelled) {
    public static Call plain() {
      return new Call("", 0, Long.MAX_VALUE, new CompletableFuture<>());
    }
  }

  /**
   * Embeds the images. {@code maxBatchTiles} ≤ 0 uses the server's batch cap; a positive value lowers it for this
   * request's tiles (benchmarks).
   */
  public Result embed(List<ImageInput> images, DTypes.Type type, int maxBatchTiles) throws EmbedException {
    return embed(images, type, maxBatchTiles, Call.plain());
  }

  /** As above, for one caller's {@link Call}. */
  public Result embed(List<ImageInput> images, DTypes.Type type, int maxBatchTiles, Call call) throws EmbedException {
    EmbedTrace trace = EmbedTrace.start(tracer);
    try {
      Result r;
      for (int attempt = 1; ; attempt++) {
        try {
          r = embed(images, type, maxBatchTiles, call, trace);
          break;
        } catch (OwnerGone e) {
          // this call joined an image another call was encoding, and that call went away: encode it ourselves
          if (attempt >= 3 || call.cancelled().isDone()) {
            throw new EmbedException(EmbedException.Kind.UNAVAILABLE, e.getMessage() + "; retry");
          }
        }
      }
      trace.finish(r.images());
      return r;
    } catch (EmbedException | RuntimeException e) {
      trace.fail(e);
      throw e;
    }
  }

  /**
   * The call that was encoding an image ended (cancelled, timed out or failed elsewhere) before the image was done;
   * a call that joined that encoding retries instead of failing for somebody else's reason.
   */
  static final class OwnerGone extends RuntimeException {
    OwnerGone(String message) {
      super(message, null, false, false);
    }
  }

  private Result embed(List<ImageInput> images, DTypes.Type type, int maxBatchTiles, Call call, EmbedTrace trace)
      throws EmbedException {
    long t0 = System.nanoTime();
    long deadline = Math.min(call.deadlineNanos(), t0 + TimeUnit.SECONDS.toNanos(limits.maxWaitSeconds()));
    String scope = call.clientScope() == null ? "" : call.clientScope();
    if (images.isEmpty()) throw invalid("the request has no images (send 1 to " + limits.maxImages() + ")");
    if (images.size() > limits.maxImages())
      throw invalid("the request has " + images.size() + " images; at most " + limits.maxImages() + " are allowed");

    // 1. Check the whole request before doing any work.
    String[] hashes = new String[images.size()];
    for (int i = 0; i < images.size(); i++) {
      ImageInput in = images.get(i);
      boolean hasData = in.data() != null && in.data().length > 0;
      boolean hasId = in.imageId() != null && !in.imageId().isEmpty();
      if (!hasData && !hasId) throw invalid("image " + i + " has neither data nor image_id");
      if (hasData && in.data().length > limits.maxImageBytes())
        throw invalid("image " + i + " is " + in.data().length + " bytes; the limit is " + limits.maxImageBytes() + " bytes");
      if (hasData) {
        hashes[i] = sha256Hex(in.data());
        // Only checked here; the id is bound once the image has been embedded, so a corrupt upload cannot
        // claim an id.
        if (hasId) {
          Optional<String> bound = ids.lookup(scope, in.imageId());
          if (bound.isPresent() && !bound.get().equals(hashes[i]))
            throw invalid("image " + i + ": " + ImageIdRegistry.reboundMessage(in.imageId()));
        }
      } else {
        // another scope's id is unknown here, word for word as an id nobody bound
        Optional<String> bound = ids.lookup(scope, in.imageId());
        if (bound.isEmpty())
          throw new EmbedException(EmbedException.Kind.NOT_FOUND,
              "image " + i + ": image_id '" + in.imageId() + "' is not known to this server; send the image bytes with it");
        hashes[i] = bound.get();
      }
    }

    // 1b. The image-token budget, from the headers (or the cached grid): nothing is decoded or encoded above it.
    if (call.maxImageTokens() > 0) checkImageTokens(images, hashes, call.maxImageTokens());

    // 2. Look every image up; misses register an in-flight future that step 3 completes.
    long l0 = System.nanoTime();
    List<EmbeddingCache.Lookup> lookups = new ArrayList<>();
    List<Pending> pending = new ArrayList<>();
    List<CompletableFuture<float[]>> queued = new ArrayList<>();
    try {
      for (int i = 0; i < images.size(); i++) {
        int index = i;
        byte[] data = images.get(i).data();
        CacheKey key = new CacheKey(hashes[i], preprocessKey, modelId);
        lookups.add(cache.getOrCompute(key, () -> {
          CompletableFuture<CachedEmbedding> f = new CompletableFuture<>();
          pending.add(new Pending(index, data, f));
          return f;
        }));
      }

      // 3. Preprocess every miss, then queue all their tiles at once so they share forward passes.
      long p0 = System.nanoTime();
      trace.stage("cache", l0, p0);
      List<Runnable> submits = new ArrayList<>();
      for (Pending p : pending) {
        if (p.data() == null || p.data().length == 0) {
          p.result().completeExceptionally(new EmbedException(EmbedException.Kind.NOT_FOUND,
              "image_id '" + images.get(p.index()).imageId() + "' is known but its embedding is no longer cached; send the image bytes again"));
          continue;
        }
        SmolVlmImageProcessor.Processed pre;
        try {
          DecodedImage decoded = decoder.decode(p.data());
          pre = SmolVlmImageProcessor.preprocess(decoded, preprocessor);
        } catch (ImageDecodeException | RuntimeException | Error e) {
          // an OutOfMemoryError too: whoever waits on this image (here or in another call) must hear of it
          p.result().completeExceptionally(e);
          continue;
        }
        submits.add(() -> {
          CompletableFuture<float[]> enc =
              maxBatchTiles > 0 ? batcher.submit(pre.pixelValues(), pre.tiles(), maxBatchTiles)
                  : batcher.submit(pre.pixelValues(), pre.tiles());
          queued.add(enc);
          enc.whenComplete((out, err) -> {
            if (err != null) {
              p.result().completeExceptionally(err);
              return;
            }
            try {
              p.result().complete(new CachedEmbedding(pre.rows(), pre.cols(), pre.width(), pre.height(), pre.tiles(),
                  tokensPerTile, hidden, littleEndian(out)));
            } catch (RuntimeException | Error e) {
              p.result().completeExceptionally(e);
            }
          });
        });
      }
      double preprocessMs = pending.isEmpty() ? 0 : (System.nanoTime() - p0) / 1e6;
      long e0 = System.nanoTime();
      if (!pending.isEmpty()) trace.stage("preprocess", p0, e0);
      List<ImageOutput> outs = new ArrayList<>();
      submits.forEach(Runnable::run);
      // a caller that goes away takes its queued tiles out of the batcher (they are skipped, never encoded)
      call.cancelled().whenComplete((v, err) -> queued.forEach(q -> q.cancel(false)));
      // 4. Collect in request order; errors name the image of this request.
      for (int i = 0; i < images.size(); i++) {
        CachedEmbedding e = await(i, lookups.get(i), deadline, call.cancelled());
        boolean hit = lookups.get(i).source() == EmbeddingCache.Source.HIT;
        outs.add(new ImageOutput(e, hit, hashes[i], type, DTypes.convert(e.float32le(), type)));
      }
      for (int i = 0; i < images.size(); i++) {
        ImageInput in = images.get(i);
        if (in.imageId() == null || in.imageId().isEmpty() || in.data() == null || in.data().length == 0) continue;
        try {
          ids.bind(scope, in.imageId(), hashes[i]);
        } catch (ImageIdRegistry.ReboundException e) { // a concurrent request bound it to other bytes first
          throw invalid("image " + i + ": " + e.getMessage());
        }
      }
      long e1 = System.nanoTime();
      if (!submits.isEmpty()) trace.stage("forward", e0, e1);
      double encodeMs = submits.isEmpty() && pending.isEmpty() ? 0 : (e1 - e0) / 1e6;
      int cap = maxBatchTiles > 0 ? Math.min(maxBatchTiles, batcher.maxTiles()) : batcher.maxTiles();
      return new Result(outs, preprocessMs, encodeMs, (System.nanoTime() - t0) / 1e6, modelId, cap);
    } catch (EmbedException | RuntimeException | Error e) {
      // Whatever went wrong, no in-flight entry this call owns may stay open: other calls wait on them.
      Throwable why = e instanceof Error ? e : new OwnerGone("the call that was encoding this image ended early");
      for (Pending p : pending) p.result().completeExceptionally(why);
      queued.forEach(q -> q.cancel(false));
      throw e;
    }
  }

  /** Sums tiles × tokens per tile from the image headers (cached images: their stored grid) against the budget. */
  private void checkImageTokens(List<ImageInput> images, String[] hashes, int budget) throws EmbedException {
    long need = 0;
    StringBuilder grids = new StringBuilder();
    for (int i = 0; i < images.size(); i++) {
      ImageInput in = images.get(i);
      int tiles;
      int rows;
      int cols;
      CachedEmbedding cached = cache.peek(new CacheKey(hashes[i], preprocessKey, modelId));
      if (cached != null) {
        tiles = cached.tiles();
        rows = cached.rows();
        cols = cached.cols();
      } else if (in.data() != null && in.data().length > 0) {
        ImageDecoder.Header h;
        try {
          h = decoder.probe(in.data());
        } catch (ImageDecodeException e) {
          throw new EmbedException(EmbedException.Kind.INVALID_ARGUMENT, "image " + i + ": " + e.getMessage(), e);
        }
        int[] g = SmolVlmImageProcessor.grid(h.height(), h.width(), preprocessor);
        rows = g[0];
        cols = g[1];
        tiles = g[2];
      } else {
        continue; // known id, no longer cached: step 3 answers NOT_FOUND
      }
      need += (long) tiles * tokensPerTile;
      if (grids.length() > 0) grids.append(", ");
      grids.append(rows == 0 ? "1 tile" : rows + "x" + cols + "+1 tiles");
    }
    if (need > budget) {
      throw invalid("the images need " + need + " image tokens (" + grids + ", " + tokensPerTile
          + " tokens per tile) but the caller's budget is " + budget + " (max_image_tokens)");
    }
  }

  private static CachedEmbedding await(int index, EmbeddingCache.Lookup lookup, long deadline,
      CompletableFuture<Void> cancelled) throws EmbedException {
    CompletableFuture<CachedEmbedding> f = lookup.embedding();
    boolean joined = lookup.source() == EmbeddingCache.Source.JOINED;
    try {
      long left = deadline - System.nanoTime();
      if (left <= 0 && !f.isDone()) throw new TimeoutException();
      // a cancelled caller stops waiting at once, even on an image another call is computing
      CompletableFuture.anyOf(f, cancelled).get(Math.max(0, left), TimeUnit.NANOSECONDS);
      if (!f.isDone()) throw new EmbedException(EmbedException.Kind.CANCELLED, "the caller cancelled while image " + index + " was encoding");
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new EmbedException(EmbedException.Kind.UNAVAILABLE, "interrupted while encoding image " + index);
    } catch (TimeoutException e) {
      throw new EmbedException(EmbedException.Kind.DEADLINE_EXCEEDED, "image " + index + " was not encoded in time"
          + " (the caller's deadline, or " + ServiceDefaults.ENV_VISION_MAX_WAIT_SECONDS + ")");
    } catch (java.util.concurrent.CancellationException e) {
      if (joined && !cancelled.isDone()) throw new OwnerGone("image " + index + ": the call encoding it was cancelled");
      throw new EmbedException(EmbedException.Kind.CANCELLED, "image " + index + ": encoding was cancelled");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (joined && !cancelled.isDone() && (c instanceof OwnerGone || c instanceof java.util.concurrent.CancellationException)) {
        throw new OwnerGone("image " + index + ": the call encoding it ended early");
      }
      if (c instanceof ImageDecodeException d)
        throw new EmbedException(EmbedException.Kind.INVALID_ARGUMENT, "image " + index + ": " + d.getMessage(), d);
      if (c instanceof EmbedException x) throw new EmbedException(x.kind(), "image " + index + ": " + x.getMessage(), x);
      if (c instanceof RejectedExecutionException r)
        throw new EmbedException(EmbedException.Kind.UNAVAILABLE, "image " + index + ": " + r.getMessage(), r);
      if (c instanceof java.util.concurrent.CancellationException)
        throw new EmbedException(EmbedException.Kind.CANCELLED, "image " + index + ": encoding was cancelled by its caller; retry");
      throw new EmbedException(EmbedException.Kind.INTERNAL, "image " + index + ": encoding failed: " + c, c);
    }
  }

  private static EmbedException invalid(String message) {
    return new EmbedException(EmbedException.Kind.INVALID_ARGUMENT, message);
  }

  static byte[] littleEndian(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }

  static String sha256Hex(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
