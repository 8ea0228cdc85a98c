package tandem.decoder.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.ServerHost;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.generate.FakeCausalLm;
import tandem.decoder.generate.GenerationDefaults;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;
import tandem.proto.types.v1.Tensor;

class DecoderGrpcServiceTest {
  private static final int VOCAB = 40;
  private static final int IMAGE = 39;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  private ManagedChannel serve(FakeCausalLm lm, int maxQueue, int context) throws Exception {
    String name = InProcessServerBuilder.generateName();
    DecoderServerConfig cfg =
        DecoderServerConfig.of(
            null, "cpu", "float32", 0, lm.slots(), lm.maxSeqLen(), maxQueue, 16 << 20, 64);
    DecoderServer server =
        DecoderServer.start(
            lm,
            new DecoderServer.ModelInfo(GenerationDefaults.demo(7), context, IMAGE),
            cfg,
            ServerHost.inProcess(InProcessServerBuilder.forName(name).directExecutor()));
    open.add(server);
    ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
    open.add(ch::shutdownNow);
    servers.add(server);
    return ch;
  }

  private final List<DecoderServer> servers = new ArrayList<>();

  static GenerateRequest.Builder prompt(int... ids) {
    GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId("t");
    for (int id : ids) b.addInputIds(id);
    return b;
  }

  record Stream(int[] ids, GenerateFinal fin, int messages) {}

  static Stream collect(Iterator<GenerateResponse> it) {
    List<Integer> ids = new ArrayList<>();
    GenerateFinal fin = null;
    int messages = 0;
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      messages++;
      assertEquals("t", r.getRequestId());
      if (r.hasTokens()) ids.addAll(r.getTokens().getIdsList());
      else fin = r.getFinal();
    }
    return new Stream(ids.stream().mapToInt(Integer::intValue).toArray(), fin, messages);
  }

  @Test
  void aStreamCarriesEveryTokenAsItComesThenOneFinalMessageWithCountsAndTimings() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 128);
    // 12 steps of 20 ms: the client checks that the sequence is still running after the first
    // token, and a busy CI host may take tens of milliseconds to get there
    lm.stepSleepMillis = 20;
    var stub = DecoderServiceGrpc.newBlockingStub(serve(lm, 4, 1000));
    GenerateRequest req =
        prompt(1, 2, 3)
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(12).setMinNewTokens(12))
            .build();
    Iterator<GenerateResponse> it = stub.generate(req);
    GenerateResponse first = it.next();
    assertTrue(first.hasTokens());
    assertEquals(
        1,
        servers.get(0).metrics().activeSequences(),
        "the first token came only after the sequence ended");
    Stream rest = collect(it);
    int[] ids = new int[rest.ids().length + first.getTokens().getIdsCount()];
    for (int i = 0; i < first.getTokens().getIdsCount(); i++) ids[i] = first.getTokens().getIds(i);
    System.arraycopy(rest.ids(), 0, ids, first.getTokens().getIdsCount(), rest.ids().length);
    assertEquals(12, ids.length);
    GenerateFinal fin = rest.fin();
    assertEquals(FinishReason.FINISH_REASON_LENGTH, fin.getFinishReason());
    assertEquals(3, fin.getPromptTokens());
    assertEquals(12, fin.getGeneratedTokens());
    assertTrue(fin.getTimeToFirstTokenMs() > 0);
    assertTrue(fin.getDecodeMs() >= 11 * 4, "decode_ms " + fin.getDecodeMs());
    assertTrue(
        fin.getStepModelMs() >= 11 * 4 && fin.getStepTotalMs() >= fin.getStepModelMs(),
        fin.toString());
    // Same request again: greedy is deterministic.
    assertArrayEquals(ids, collect(stub.generate(req)).ids());
  }

  @Test
  void samplingWithTheSameSeedGivesTheSameStream() throws Exception {
    var stub =
        DecoderServiceGrpc.newBlockingStub(serve(FakeCausalLm.random(VOCAB, 2, 128), 4, 1000));
    GenerationParams.Builder p =
        GenerationParams.newBuilder()
            .setMaxNewTokens(20)
            .setMinNewTokens(20)
            .setNoRepeatNgramSize(0)
            .setTemperature(1.5f)
            .setTopK(20)
            .setTopP(0.95f);
    int[] a = collect(stub.generate(prompt(5).setParams(p.setSeed(11)).build())).ids();
    int[] b = collect(stub.generate(prompt(5).setParams(p.setSeed(11)).build())).ids();
    int[] c = collect(stub.generate(prompt(5).setParams(p.setSeed(12)).build())).ids();
    assertArrayEquals(a, b);
    assertTrue(!java.util.Arrays.equals(a, c), "another seed gave the same 20 ids");
  }

  @Test
  void aSpliceCountMismatchIsInvalidArgumentNamingBothNumbers() throws Exception {
    var stub =
        DecoderServiceGrpc.newBlockingStub(serve(FakeCausalLm.random(VOCAB, 1, 128), 4, 1000));
    GenerateRequest req =
        prompt(1, IMAGE, IMAGE, IMAGE, 2).addImageEmbeddings(block(2, 4, 0.5f)).build();
    StatusRuntimeException e =
        assertThrows(StatusRuntimeException.class, () -> collect(stub.generate(req)));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("3 image-token positions")
            && e.getStatus().getDescription().contains("2 rows"),
        e.getStatus().getDescription());
    // The matching count goes through, with float32 and bfloat16 blocks alike.
    GenerateRequest ok =
        prompt(1, IMAGE, IMAGE, IMAGE, 2)
            .addImageEmbeddings(block(2, 4, 0.5f))
            .addImageEmbeddings(bf16Block(1, 4, 0.5f))
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(2))
            .build();
    assertEquals(2, collect(stub.generate(ok)).ids().length);
  }

  @Test
  void aBlockOfTheWrongWidthOrByteCountIsInvalidArgument() throws Exception {
    var stub =
        DecoderServiceGrpc.newBlockingStub(serve(FakeCausalLm.random(VOCAB, 1, 128), 4, 1000));
    GenerateRequest wide = prompt(1, IMAGE).addImageEmbeddings(block(1, 5, 0f)).build();
    StatusRuntimeException e =
        assertThrows(StatusRuntimeException.class, () -> collect(stub.generate(wide)));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("hidden size 4"), e.getStatus().getDescription());
    Tensor truncated =
        block(1, 4, 0f).toBuilder().setData(ByteString.copyFrom(new byte[10])).build();
    e =
        assertThrows(
            StatusRuntimeException.class,
            () -> collect(stub.generate(prompt(1, IMAGE).addImageEmbeddings(truncated).build())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
  }

  @Test
  void aPromptLongerThanTheContextIsInvalidArgument() throws Exception {
    var stub = DecoderServiceGrpc.newBlockingStub(serve(FakeCausalLm.random(VOCAB, 1, 128), 4, 50));
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> collect(stub.generate(prompt(new int[60]).build())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("context is 50"), e.getStatus().getDescription());
    e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                collect(
                    stub.generate(
                        prompt(1).setParams(GenerationParams.newBuilder().setTopP(2f)).build())));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("top_p"), e.getStatus().getDescription());
  }

  @Test
  void whenEverySlotAndQueuePlaceIsTakenTheNextCallIsResourceExhausted() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 1, 100_000);
    lm.stepSleepMillis = 2;
    ManagedChannel ch = serve(lm, 0, 200_000);
    Context.CancellableContext ctx = Context.current().withCancellation();
    open.add(() -> ctx.cancel(null));
    Iterator<GenerateResponse> running =
        ctx.call(
            () ->
                DecoderServiceGrpc.newBlockingStub(ch)
                    .generate(
                        prompt(1)
                            .setParams(
                                GenerationParams.newBuilder()
                                    .setMaxNewTokens(90_000)
                                    .setMinNewTokens(90_000))
                            .build()));
    running.next();
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> collect(DecoderServiceGrpc.newBlockingStub(ch).generate(prompt(1).build())));
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
  }

  @Test
  void aClientCancelStopsTheSequenceAndFreesItsSlot() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 100_000);
    lm.stepSleepMillis = 2;
    ManagedChannel ch = serve(lm, 4, 200_000);
    DecoderServer server = servers.get(0);
    Context.CancellableContext ctx = Context.current().withCancellation();
    Iterator<GenerateResponse> it =
        ctx.call(
            () ->
                DecoderServiceGrpc.newBlockingStub(ch)
                    .generate(
                        prompt(1)
                            .setParams(
                                GenerationParams.newBuilder()
                                    .setMaxNewTokens(90_000)
                                    .setMinNewTokens(90_000))
                            .build()));
    for (int i = 0; i < 3; i++) it.next();
    assertEquals(1, server.metrics().activeSequences());
    ctx.cancel(null);
    waitFor(
        () -> server.metrics().activeSequences() == 0, "active sequences back to 0 after a cancel");
    assertEquals(0, server.metrics().kvTokensInUse());
    assertEquals(0, lm.length(0) + lm.length(1));
  }

  @Test
  void anExpiredDeadlineCancelsTheSequence() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 1, 100_000);
    lm.stepSleepMillis = 2;
    ManagedChannel ch = serve(lm, 4, 200_000);
    DecoderServer server = servers.get(0);
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                collect(
                    DecoderServiceGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(150, TimeUnit.MILLISECONDS)
                        .generate(
                            prompt(1)
                                .setParams(
                                    GenerationParams.newBuilder()
                                        .setMaxNewTokens(90_000)
                                        .setMinNewTokens(90_000))
                                .build())));
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    waitFor(
        () -> server.metrics().activeSequences() == 0,
        "active sequences back to 0 after the deadline");
  }

  @Test
  void aSlowReaderGetsEveryTokenInOrderWithoutStallingTheScheduler() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 2, 1000);
    ManagedChannel ch = serve(lm, 4, 1000);
    GenerateRequest req =
        prompt(3, 4)
            .setParams(
                GenerationParams.newBuilder()
                    .setMaxNewTokens(200)
                    .setMinNewTokens(200)
                    .setNoRepeatNgramSize(0))
            .build();
    int[] fast = collect(DecoderServiceGrpc.newBlockingStub(ch).generate(req)).ids();
    CompletableFuture<int[]> slow = new CompletableFuture<>();
    List<Integer> got = new ArrayList<>();
    CountDownLatch first = new CountDownLatch(1);
    ClientCallStreamObserver<?>[] callRef = new ClientCallStreamObserver<?>[1];
    DecoderServiceGrpc.newStub(ch)
        .generate(
            req,
            new ClientResponseObserver<GenerateRequest, GenerateResponse>() {
              @Override
              public void beforeStart(ClientCallStreamObserver<GenerateRequest> call) {
                call.disableAutoRequestWithInitial(1);
                callRef[0] = call;
              }

              @Override
              public void onNext(GenerateResponse r) {
                if (r.hasTokens()) got.addAll(r.getTokens().getIdsList());
                first.countDown();
              }

              @Override
              public void onError(Throwable t) {
                slow.completeExceptionally(t);
              }

              @Override
              public void onCompleted() {
                slow.complete(got.stream().mapToInt(Integer::intValue).toArray());
              }
            });
    assertTrue(first.await(10, TimeUnit.SECONDS));
    // Hold the reader back until the model has finished the whole sequence, then read at leisure.
    waitFor(
        () -> servers.get(0).metrics().activeSequences() == 0,
        "the sequence finishes without a reader");
    for (int i = 0; i < 400 && !slow.isDone(); i++) {
      callRef[0].request(1);
      Thread.sleep(1);
    }
    assertArrayEquals(fast, slow.get(10, TimeUnit.SECONDS));
  }

  @Test
  void healthSaysServingOnlyAfterTheWarmUpRan() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    FakeCausalLm lm =
        new FakeCausalLm(VOCAB, 4, 1, 64, null) {
          @Override
          public float[] prefill(int slot, float[] inputEmbeds, int len) {
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return super.prefill(slot, inputEmbeds, len);
          }
        };
    String name = InProcessServerBuilder.generateName();
    DecoderServerConfig cfg =
        DecoderServerConfig.of(null, "cpu", "float32", 0, 1, 64, 1, 1 << 20, 64);
    CompletableFuture<DecoderServer> started =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return DecoderServer.start(
                    lm,
                    new DecoderServer.ModelInfo(GenerationDefaults.demo(7), 1000, IMAGE),
                    cfg,
                    ServerHost.inProcess(InProcessServerBuilder.forName(name).directExecutor()));
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
    open.add(ch::shutdownNow);
    var health = HealthGrpc.newBlockingStub(ch);
    waitFor(
        () -> {
          try {
            return health.check(HealthCheckRequest.newBuilder().setService("").build()) != null;
          } catch (StatusRuntimeException e) {
            return false;
          }
        },
        "the server to listen");
    assertEquals(
        ServingStatus.NOT_SERVING,
        health.check(HealthCheckRequest.newBuilder().setService("").build()).getStatus());
    release.countDown();
    open.add(started.get(10, TimeUnit.SECONDS));
    assertEquals(
        ServingStatus.SERVING,
        health
            .check(
                HealthCheckRequest.newBuilder()
                    .setService("tandem.decoder.v1.DecoderService")
                    .build())
            .getStatus());
  }

  static Tensor block(int rows, int hidden, float value) {
    ByteBuffer b = ByteBuffer.allocate(rows * hidden * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < rows * hidden; i++) b.putFloat(value + i);
    return Tensor.newBuilder()
        .addShape(rows)
        .addShape(hidden)
        .setDtype(DType.DTYPE_FLOAT32)
        .setData(ByteString.copyFrom(b.array()))
        .build();
  }

  static Tensor bf16Block(int rows, int hidden, float value) {
    ByteBuffer b = ByteBuffer.allocate(rows * hidden * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < rows * hidden; i++)
      b.putShort((short) (Float.floatToIntBits(value + i) >>> 16));
    return Tensor.newBuilder()
        .addShape(rows)
        .addShape(hidden)
        .setDtype(DType.DTYPE_BFLOAT16)
        .setData(ByteString.copyFrom(b.array()))
        .build();
  }

  static void waitFor(java.util.function.BooleanSupplier cond, String what)
      throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) throw new AssertionError("timed out waiting for " + what);
      Thread.sleep(2);
    }
  }
}
