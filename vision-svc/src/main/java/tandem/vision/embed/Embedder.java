package tandem.vision.embed;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import tandem.common.error.Rejection;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.Tensor;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.CachedEmbedding;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;
import tandem.vision.telemetry.EmbedTrace;

/**
 * The vision service's domain logic: image bytes → embeddings, in named stages: validate ({@link
 * RequestCheck}) → key ({@link ImageKeys}) → the caller's token budget ({@link TokenBudget}) →
 * cache and in-flight entries ({@link InFlight}) → decode and preprocess the misses ({@link
 * Preprocessing}) → batch and encode their tiles, all queued together so they share forward passes
 * ({@link Encoding}) → wait for each image ({@link Waits}) → wire format ({@link WireFormat}). A
 * refusal or failure is a {@link Rejection} whose message names the image.
 */
public final class Embedder {
  /**
   * One image of a request: bytes (may be empty when {@code imageId} names a known image) and an
   * optional id.
   */
  public record ImageInput(byte[] data, String imageId) {
    boolean hasData() {
      return data != null && data.length > 0;
    }

    boolean hasId() {
      return imageId != null && !imageId.isEmpty();
    }
  }

  /** One image's answer; {@code tensor} is [tiles·tokens, hidden] in the requested element type. */
  public record ImageOutput(
      CachedEmbedding embedding,
      boolean cacheHit,
      String contentHash,
      Tensor tensor,
      boolean encodedHere) {}

  /** The whole answer, in request order. */
  public record Result(
      List<ImageOutput> images,
      double preprocessMs,
      double encodeMs,
      double totalMs,
      String modelId,
      int maxBatchTiles) {}

  /**
   * How one call runs beyond its images.
   *
   * @param clientScope the tenant its image ids belong to ("" for callers that name none)
   * @param maxImageTokens most image tokens (tiles × tokens per tile over all images) the caller
   *     can still use; checked from the headers and the cache before anything is decoded; 0 = no
   *     budget
   * @param deadlineNanos {@link System#nanoTime()} by which the call gives up waiting
   *     (DEADLINE_EXCEEDED); {@link Long#MAX_VALUE} = the server's longest wait
   * @param cancelled completes when the caller goes away: this call's tiles leave the batcher's
   *     queue
   */
  public record Call(
      String clientScope,
      int maxImageTokens,
      long deadlineNanos,
      CompletableFuture<Void> cancelled) {
    public static Call plain() {
      return new Call("", 0, Long.MAX_VALUE, new CompletableFuture<>());
    }
  }

  /** Largest number of client image ids remembered (least recently used forgotten first). */
  public static final int MAX_IMAGE_IDS = 100_000;

  private final EmbeddingCache cache;
  private final EmbedLimits limits;
  private final String modelId;
  private final Tracer tracer;
  private final RequestCheck check;
  private final ImageKeys keys;
  private final TokenBudget budget;
  private final Preprocessing preprocessing;
  private final Encoding encoding;

  public Embedder(
      TileBatcher batcher,
      EmbeddingCache cache,
      ImageIdRegistry ids,
      PreprocessorConfig preprocessor,
      EmbedLimits limits,
      String modelId,
      int tokensPerTile,
      int hidden) {
    this(
        batcher,
        cache,
        ids,
        preprocessor,
        limits,
        modelId,
        tokensPerTile,
        hidden,
        OpenTelemetry.noop().getTracer(EmbedTrace.SCOPE));
  }

  /**
   * @param tracer makes the {@code embed} span and its stage children ({@link EmbedTrace})
   */
  public Embedder(
      TileBatcher batcher,
      EmbeddingCache cache,
      ImageIdRegistry ids,
      PreprocessorConfig preprocessor,
      EmbedLimits limits,
      String modelId,
      int tokensPerTile,
      int hidden,
      Tracer tracer) {
    this.cache = cache;
    this.limits = limits;
    this.modelId = modelId;
    this.tracer = tracer;
    // No EXIF rotation: HF's processor sees the image as PIL.Image.open loads it (unrotated).
    ImageDecoder decoder = new ImageDecoder(limits.maxImageBytes(), limits.maxImagePixels(), false);
    this.check = new RequestCheck(limits);
    this.keys = new ImageKeys(ids, preprocessor.cacheKey() + ";exif=false", modelId);
    this.budget = new TokenBudget(cache, decoder, preprocessor, tokensPerTile);
    this.preprocessing = new Preprocessing(decoder, preprocessor);
    this.encoding = new Encoding(batcher, tokensPerTile, hidden);
  }

  public String modelId() {
    return modelId;
  }

  public EmbeddingCache cache() {
    return cache;
  }

  /**
   * Embeds the images. {@code maxBatchTiles} 0 uses the server's batch cap; a positive value lowers
   * it for this request's tiles (benchmarks).
   */
  public Result embed(List<ImageInput> images, DType type, int maxBatchTiles) {
    return embed(images, type, maxBatchTiles, Call.plain());
  }

  /** As above, for one caller's {@link Call}. */
  public Result embed(List<ImageInput> images, DType type, int maxBatchTiles, Call call) {
    RequestCheck.arguments(maxBatchTiles, call.maxImageTokens());
    EmbedTrace trace = EmbedTrace.start(tracer);
    try {
      Result r = embedRetrying(images, type, maxBatchTiles, call, trace);
      finish(trace, r.images());
      return r;
    } catch (RuntimeException e) {
      trace.fail(e);
      throw e;
    }
  }

  private Result embedRetrying(
      List<ImageInput> images, DType type, int maxBatchTiles, Call call, EmbedTrace trace) {
    for (int attempt = 1; ; attempt++) {
      try {
        return embedOnce(images, type, maxBatchTiles, call, trace);
      } catch (OwnerGone e) {
        // this call joined an image another call was encoding, and that call went away: encode it
        // ourselves
        if (attempt >= 3 || call.cancelled().isDone())
          throw Rejection.unavailable(e.getMessage() + "; retry");
      }
    }
  }

  /** A miss whose tiles are ready for the tower. */
  private record Prepared(InFlight.Miss miss, SmolVlmImageProcessor.Processed tiles) {}

  private Result embedOnce(
      List<ImageInput> images, DType type, int maxBatchTiles, Call call, EmbedTrace trace) {
    long t0 = System.nanoTime();
    long deadline =
        Math.min(call.deadlineNanos(), t0 + TimeUnit.SECONDS.toNanos(limits.maxWaitSeconds()));
    String scope = call.clientScope() == null ? "" : call.clientScope();

    // validate and key: the whole request is checked before any work
    check.count(images.size());
    CacheKey[] keyOf = new CacheKey[images.size()];
    for (int i = 0; i < images.size(); i++) {
      check.image(i, images.get(i));
      keyOf[i] = keys.key(i, images.get(i), scope);
    }
    if (call.maxImageTokens() > 0) budget.check(images, keyOf, call.maxImageTokens());

    long l0 = System.nanoTime();
    InFlight work = new InFlight();
    java.util.Set<InFlight.Miss> queuedMisses = null; // once every miss's tiles are queued
    try {
      List<EmbeddingCache.Lookup> lookups = work.lookUp(cache, images, keyOf);
      long p0 = System.nanoTime();
      trace.stage("cache", l0, p0);

      List<Prepared> prepared = new ArrayList<>();
      for (InFlight.Miss m : work.misses()) {
        SmolVlmImageProcessor.Processed tiles = preprocessing.run(m);
        if (tiles != null) prepared.add(new Prepared(m, tiles));
      }
      boolean missed = !work.misses().isEmpty();
      double preprocessMs = missed ? (System.nanoTime() - p0) / 1e6 : 0;
      long e0 = System.nanoTime();
      if (missed) trace.stage("preprocess", p0, e0);

      // every miss's tiles at once, so that they share forward passes
      for (Prepared p : prepared)
        work.queued(encoding.submit(p.tiles(), maxBatchTiles, p.miss().result()));
      queuedMisses = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
      for (Prepared p : prepared) queuedMisses.add(p.miss());
      call.cancelled().whenComplete((v, err) -> work.cancelQueued());

      // in request order; errors name the image of this request
      List<ImageOutput> outs = new ArrayList<>();
      for (int i = 0; i < images.size(); i++) {
        CachedEmbedding e = Waits.await(i, lookups.get(i), deadline, call.cancelled());
        EmbeddingCache.Source src = lookups.get(i).source();
        // JOINED: a duplicate in this request, or an image another call encodes
        outs.add(
            new ImageOutput(
                e,
                src == EmbeddingCache.Source.HIT,
                keyOf[i].contentHash(),
                WireFormat.tensor(e, type),
                src == EmbeddingCache.Source.MISS));
      }
      keys.bind(scope, images, keyOf);
      long e1 = System.nanoTime();
      if (!prepared.isEmpty()) trace.stage("forward", e0, e1);
      double encodeMs = missed ? (e1 - e0) / 1e6 : 0;
      return new Result(
          outs,
          preprocessMs,
          encodeMs,
          (System.nanoTime() - t0) / 1e6,
          modelId,
          encoding.cap(maxBatchTiles));
    } catch (RuntimeException | Error e) {
      if (queuedMisses != null
          && e instanceof Rejection r
          && (r.kind() == Rejection.Kind.INVALID || r.kind() == Rejection.Kind.TOO_LARGE)) {
        // one image's own refusal: the other images still get encoded and cached
        work.abandonAllBut(queuedMisses);
      } else {
        work.abandon(e);
      }
      throw e;
    }
  }

  /** Ends the span with the counts: images, tiles, tiles this call computed, cache hits. */
  private static void finish(EmbedTrace trace, List<ImageOutput> images) {
    long tiles = 0;
    long computed = 0;
    long hits = 0;
    for (ImageOutput o : images) {
      tiles += o.embedding().tiles();
      if (o.cacheHit()) hits++;
      if (o.encodedHere()) computed += o.embedding().tiles();
    }
    trace.finish(images.size(), tiles, computed, hits);
  }
}
