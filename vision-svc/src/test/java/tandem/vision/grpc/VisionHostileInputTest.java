package tandem.vision.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import tandem.common.error.Rejection;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.testing.Fixtures;
import tandem.proto.types.v1.DType;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.CacheKey;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.embed.EmbedLimits;
import tandem.vision.embed.Embedder;
import tandem.vision.model.TileEncoder;
import tandem.vision.preprocess.PreprocessorConfig;

/**
 * vision-svc against a hostile caller (issue 15): the image-token budget is checked from the
 * headers before any encode, image ids are scoped per client, an Error completes every in-flight
 * entry, waits end at the deadline, and a cancelled call's tiles leave the batcher's queue. The
 * tower is a gated stand-in so that each test controls when a forward pass runs.
 */
class VisionHostileInputTest {
  static final int HIDDEN = 8;
  static final Duration FAST = Duration.ofSeconds(10);

  /** Zero embeddings; blocks while the gate is closed; throws {@code failFirst} Errors first. */
  static final class GatedTower implements TileEncoder {
    final CountDownLatch gate;
    final CountDownLatch entered = new CountDownLatch(1);
    final AtomicInteger tiles = new AtomicInteger();
    final AtomicInteger failFirst;

    GatedTower(boolean open, int failFirst) {
      this.gate = new CountDownLatch(open ? 0 : 1);
      this.failFirst = new AtomicInteger(failFirst);
    }

    @Override
    public float[] encode(float[] pixels, int n) {
      entered.countDown();
      if (failFirst.getAndDecrement() > 0)
        throw new OutOfMemoryError("Java heap space (simulated)");
      try {
        gate.await();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      tiles.addAndGet(n);
      return new float[n * outputFloatsPerTile()];
    }

    @Override
    public int tileFloats() {
      return 3 * 512 * 512;
    }

    @Override
    public int outputFloatsPerTile() {
      return 64 * HIDDEN;
    }
  }

  TileBatcher batcher;
  EmbeddingCache cache;
  Embedder embedder;
  ServerBootstrap boot;
  ManagedChannel channel;
  VisionServiceGrpc.VisionServiceBlockingStub stub;
  GatedTower tower;

  void start(GatedTower t, int maxWaitSeconds) throws Exception {
    tower = t;
    batcher = new TileBatcher(t, 8, 0);
    cache = new EmbeddingCache(64L << 20);
    embedder =
        new Embedder(
            batcher,
            cache,
            new ImageIdRegistry(100),
            PreprocessorConfig.smolVlmDefaults(),
            new EmbedLimits(20 << 20, 50_000_000L, 8, maxWaitSeconds),
            "gated",
            64,
            HIDDEN);
    String name = InProcessServerBuilder.generateName();
    boot =
        ServerBootstrap.start(
            InProcessServerBuilder.forName(name),
            64 << 20,
            List.of(),
            new VisionGrpcService(embedder));
    channel = InProcessChannelBuilder.forName(name).maxInboundMessageSize(64 << 20).build();
    stub = VisionServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (tower != null) tower.gate.countDown();
    if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (boot != null) boot.server().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (batcher != null) batcher.close();
  }

  static ImageInput img(byte[] data, String id) {
    return ImageInput.newBuilder().setData(ByteString.copyFrom(data)).setImageId(id).build();
  }

  static EmbedRequest req(String scope, ImageInput... images) {
    return EmbedRequest.newBuilder().setClientScope(scope).addAllImages(List.of(images)).build();
  }

  static StatusRuntimeException refused(Status.Code code, Executable call) {
    StatusRuntimeException e =
        assertTimeoutPreemptively(FAST, () -> assertThrows(StatusRuntimeException.class, call));
    assertEquals(code, e.getStatus().getCode(), e.toString());
    return e;
  }

  @Test
  void imagesOverTheTokenBudgetAreRefusedFromTheirHeadersWithoutAnEncode() throws Exception {
    start(new GatedTower(true, 0), 60);
    byte[] image =
        Files.readAllBytes(Fixtures.path("vision-tiny/goldens/image512.png")); // 4x4+1 tiles
    EmbedRequest r =
        req("", img(image, ""), img(VisionServiceTest.pngOf(1, 64, 64), "")).toBuilder()
            .setMaxImageTokens(1500)
            .build();
    var e = refused(Status.Code.INVALID_ARGUMENT, () -> stub.embed(r));
    String d = e.getStatus().getDescription();
    assertTrue(
        d.contains("need 2176 image tokens")
            && d.contains("max_image_tokens")
            && d.contains("1500"),
        d);
    assertEquals(0, tower.tiles.get(), "nothing was encoded");
    assertEquals(0, batcher.stats().tiles());
    assertEquals(0, cache.stats().misses(), "nothing was even looked up");
    // within the budget it is encoded
    assertEquals(
        17, stub.embed(r.toBuilder().setMaxImageTokens(2176).build()).getImages(0).getTiles());
  }

  @Test
  void anotherClientsImageIdIsNotFoundExactlyLikeAnUnknownOne() throws Exception {
    start(new GatedTower(true, 0), 60);
    byte[] alices = VisionServiceTest.pngOf(2, 40, 30);
    stub.embed(req("token:alice", img(alices, "photo")));
    assertNotNull(
        stub.embed(req("token:alice", ImageInput.newBuilder().setImageId("photo").build())));
    var stolen =
        refused(
            Status.Code.NOT_FOUND,
            () ->
                stub.embed(
                    req("ip:10.0.0.9", ImageInput.newBuilder().setImageId("photo").build())));
    var unknown =
        refused(
            Status.Code.NOT_FOUND,
            () ->
                stub.embed(
                    req("ip:10.0.0.9", ImageInput.newBuilder().setImageId("other").build())));
    assertEquals(
        unknown.getStatus().getDescription().replace("'other'", "'photo'"),
        stolen.getStatus().getDescription());
  }

  @Test
  void aPreBoundGuessableIdDoesNotPoisonAnotherClientAndRebindsNameNoHash() throws Exception {
    start(new GatedTower(true, 0), 60);
    byte[] bobs = VisionServiceTest.pngOf(3, 40, 30);
    byte[] alices = VisionServiceTest.pngOf(4, 40, 30);
    stub.embed(req("token:bob", img(bobs, "img-1"))); // bob guesses alice's next id first
    stub.embed(
        req(
            "token:alice",
            img(alices, "img-1"))); // alice is not refused: her scope has no img-1 yet
    var e =
        refused(
            Status.Code.INVALID_ARGUMENT, () -> stub.embed(req("token:alice", img(bobs, "img-1"))));
    String d = e.getStatus().getDescription();
    assertTrue(d.contains("already bound to other image bytes"), d);
    assertFalse(d.matches("(?s).*[0-9a-f]{64}.*"), "no content hash in: " + d);
  }

  @Test
  void anErrorInTheTowerCompletesTheInFlightEntrySoNoLaterCallerHangs() throws Exception {
    start(new GatedTower(true, 1), 60);
    byte[] image = VisionServiceTest.pngOf(5, 64, 64);
    var e = refused(Status.Code.INTERNAL, () -> stub.embed(req("", img(image, ""))));
    assertTrue(
        e.getStatus().getDescription().contains("OutOfMemoryError"),
        e.getStatus().getDescription());
    assertEquals(0, cache.inFlight(), "no entry left open");
    // the same image again: encoded, not stuck behind the failed entry
    assertTimeoutPreemptively(FAST, () -> stub.embed(req("", img(image, ""))));
  }

  @Test
  void anErrorWhileComputingACacheEntryCompletesIt() throws Exception {
    EmbeddingCache c = new EmbeddingCache(1 << 20);
    CacheKey key = new CacheKey("h", "pre", "model");
    var lookup =
        c.getOrCompute(
            key,
            () -> {
              throw new OutOfMemoryError("simulated");
            });
    assertTrue(lookup.embedding().isCompletedExceptionally());
    assertEquals(0, c.inFlight());
    assertEquals(EmbeddingCache.Source.MISS, c.getOrCompute(key, CompletableFuture::new).source());
  }

  @Test
  void aWaitEndsAtTheCallersDeadlineAndAtTheServersLongestWait() throws Exception {
    start(new GatedTower(false, 0), 1);
    byte[] image = VisionServiceTest.pngOf(6, 64, 64);
    var e =
        refused(
            Status.Code.DEADLINE_EXCEEDED,
            () ->
                stub.withDeadlineAfter(500, TimeUnit.MILLISECONDS).embed(req("", img(image, ""))));
    assertNotNull(e);
    // no deadline from the caller: the server's own wait (1 s here) ends it, with the variable
    // named
    Rejection x =
        assertTimeoutPreemptively(
            FAST,
            () ->
                assertThrows(
                    Rejection.class,
                    () ->
                        embedder.embed(
                            List.of(
                                new Embedder.ImageInput(VisionServiceTest.pngOf(7, 64, 64), "")),
                            DType.DTYPE_FLOAT32,
                            0)));
    assertEquals(Rejection.Kind.DEADLINE, x.kind());
    assertTrue(x.getMessage().contains("TANDEM_VISION_MAX_WAIT_SECONDS"), x.getMessage());
  }

  @Test
  void aCancelledCallsTilesLeaveTheBatcherQueueAndAreNeverEncoded() throws Exception {
    start(new GatedTower(false, 0), 60);
    byte[] first = Files.readAllBytes(Fixtures.path("vision-tiny/goldens/image512.png"));
    byte[] second = VisionServiceTest.pngOf(8, 512, 512);
    var async = VisionServiceGrpc.newFutureStub(channel);
    var one = async.embed(req("", img(first, "")));
    assertTrue(tower.entered.await(30, TimeUnit.SECONDS), "the first batch is in the tower");
    Context.CancellableContext ctx = Context.current().withCancellation();
    var two = ctx.call(() -> async.embed(req("", img(second, ""))));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (batcher.queuedTiles() < 9 + 17 && System.nanoTime() < until) Thread.sleep(10);
    assertEquals(
        9 + 17, batcher.queuedTiles(), "the rest of the first image and all of the second wait");
    ctx.cancel(null);
    until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (batcher.queuedTiles() > 9 && System.nanoTime() < until) Thread.sleep(10);
    assertEquals(9, batcher.queuedTiles(), "the cancelled call's tiles left the queue");
    tower.gate.countDown();
    assertEquals(17, one.get(30, TimeUnit.SECONDS).getImages(0).getTiles());
    assertThrows(Exception.class, () -> two.get(5, TimeUnit.SECONDS));
    Thread.sleep(200);
    assertEquals(17, tower.tiles.get(), "only the first image's tiles reached the tower");
  }

  @Test
  void aCallThatJoinedAnotherCallsEncodingSurvivesThatCallsCancel() throws Exception {
    start(new GatedTower(false, 0), 60);
    byte[] image = VisionServiceTest.pngOf(9, 64, 64);
    var async = VisionServiceGrpc.newFutureStub(channel);
    Context.CancellableContext ctx = Context.current().withCancellation();
    var owner = ctx.call(() -> async.embed(req("", img(image, ""))));
    assertTrue(tower.entered.await(30, TimeUnit.SECONDS));
    var joiner = async.embed(req("", img(image, "")));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cache.stats().joined() < 1 && System.nanoTime() < until) Thread.sleep(10);
    assertEquals(1, cache.stats().joined(), "the second call waits on the first one's encoding");
    ctx.cancel(null);
    assertThrows(Exception.class, () -> owner.get(10, TimeUnit.SECONDS));
    tower.gate.countDown();
    // not CANCELLED for somebody else's cancel: it encodes the image itself
    assertEquals(17, joiner.get(30, TimeUnit.SECONDS).getImages(0).getTiles());
    assertEquals(0, cache.inFlight());
  }
}
