package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.data.HistogramPointData;
import io.opentelemetry.sdk.metrics.data.LongPointData;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.testing.exporter.InMemoryMetricReader;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.decoder.model.DecoderOptions;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.gateway.GatewayServer;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.GenerationParams;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;

/**
 * One chat through the three services gives one trace with the spans, parents and
 * attributes, and the GenAI metrics record it: once with everything in one process (in-process
 * transports, one SDK) and once with each service on its own localhost port and its own SDK (so
 * only gRPC metadata carries the context), all exporting to one in-memory exporter.
 */
class TracingTest {
  private static final int MAX_NEW = 6;
  private static Path model;
  private static byte[] image;

  @BeforeAll
  static void checkpoint() throws Exception {
    model = TinyCheckpoints.vlmTiny();
    image = Files.readAllBytes(Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg"));
  }

  static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("TANDEM_MODEL", model.toString());
    env.put("TANDEM_DECODER_MAX_BATCH", "2");
    env.put("TANDEM_DECODER_MAX_SEQ_LEN", "1024");
    return env;
  }

  static OpenTelemetrySdk sdk(
      String service, InMemorySpanExporter spans, InMemoryMetricReader metrics) {
    Resource r =
        Resource.getDefault()
            .merge(Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), service)));
    // The W3C propagator is what the autoconfigured SDK uses; without it nothing crosses a gRPC
    // hop.
    return OpenTelemetrySdk.builder()
        .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
        .setTracerProvider(
            SdkTracerProvider.builder()
                .setResource(r)
                .addSpanProcessor(SimpleSpanProcessor.create(spans))
                .build())
        .setMeterProvider(
            SdkMeterProvider.builder().setResource(r).registerMetricReader(metrics).build())
        .build();
  }

  static ChatRequest request(String id) {
    return ChatRequest.newBuilder()
        .setRequestId(id)
        .addMessages(
            ChatMessage.newBuilder()
                .setRole("user")
                .addContent(
                    ContentPart.newBuilder()
                        .setImage(ImagePart.newBuilder().setData(ByteString.copyFrom(image))))
                .addContent(ContentPart.newBuilder().setText("What is in this picture?")))
        .setParams(
            GenerationParams.newBuilder()
                .setMaxNewTokens(MAX_NEW)
                .setMinNewTokens(MAX_NEW)
                .setTemperature(0.7f)
                .setTopK(20)
                .setTopP(0.9f)
                .setSeed(42))
        .build();
  }

  static ChatFinal chat(ManagedChannel ch, String id) {
    ChatFinal fin = null;
    Iterator<ChatChunk> it =
        ChatServiceGrpc.newBlockingStub(ch)
            .withDeadlineAfter(60, TimeUnit.SECONDS)
            .chat(request(id));
    while (it.hasNext()) {
      ChatChunk c = it.next();
      if (c.hasFinal()) fin = c.getFinal();
    }
    assertNotNull(fin, "no final chunk");
    assertEquals("", fin.getError());
    return fin;
  }

  /**
   * The spans of one trace, once its three RPC server spans (ended after the final chunk is sent)
   * are in.
   */
  static List<SpanData> trace(InMemorySpanExporter exporter, String traceId)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      List<SpanData> t =
          exporter.getFinishedSpanItems().stream()
              .filter(s -> s.getTraceId().equals(traceId))
              .toList();
      long servers = t.stream().filter(s -> s.getKind() == SpanKind.SERVER).count();
      if (servers >= 3 || System.nanoTime() > deadline) return t;
      Thread.sleep(20);
    }
  }

  static SpanData one(List<SpanData> spans, String name, SpanKind kind) {
    List<SpanData> m =
        spans.stream().filter(s -> s.getName().equals(name) && s.getKind() == kind).toList();
    assertEquals(1, m.size(), "spans named " + name + " (" + kind + ") in " + names(spans));
    return m.get(0);
  }

  static List<SpanData> children(List<SpanData> spans, SpanData parent) {
    return spans.stream().filter(s -> s.getParentSpanId().equals(parent.getSpanId())).toList();
  }

  static String names(List<SpanData> spans) {
    return spans.stream()
        .map(s -> s.getName() + "/" + s.getKind())
        .collect(Collectors.joining(", "));
  }

  static void assertParent(SpanData parent, SpanData child) {
    assertEquals(
        parent.getSpanId(),
        child.getParentSpanId(),
        child.getName() + " should be a child of " + parent.getName());
    assertFalse(
        child.getStartEpochNanos() < parent.getStartEpochNanos() - 1_000_000,
        child.getName() + " starts before its parent " + parent.getName());
  }

  /** The span tree and attribute values; returns the chat span. */
  static SpanData assertChatTrace(
      List<SpanData> t, ChatFinal fin, String requestId, boolean expectCacheHit) {
    SpanData gwServer = one(t, "tandem.gateway.v1.ChatService/Chat", SpanKind.SERVER);
    assertTrue(
        gwServer.getParentSpanContext().isValid() == false,
        "the gateway's server span is the root");
    SpanData chat = one(t, "chat", SpanKind.INTERNAL);
    assertParent(gwServer, chat);

    List<SpanData> tokenize = t.stream().filter(s -> s.getName().equals("tokenize")).toList();
    assertEquals(2, tokenize.size(), names(t));
    tokenize.forEach(s -> assertParent(chat, s));

    SpanData vision = one(t, "vision", SpanKind.INTERNAL);
    assertParent(chat, vision);
    SpanData embedClient = one(t, "tandem.vision.v1.VisionService/Embed", SpanKind.CLIENT);
    assertParent(vision, embedClient);
    SpanData embedServer = one(t, "tandem.vision.v1.VisionService/Embed", SpanKind.SERVER);
    assertParent(embedClient, embedServer);
    SpanData embed = one(t, "embed", SpanKind.INTERNAL);
    assertParent(embedServer, embed);
    SpanData cache = one(t, "cache", SpanKind.INTERNAL);
    assertParent(embed, cache);
    long tiles = embed.getAttributes().get(AttributeKey.longKey("vision.tiles"));
    assertTrue(tiles >= 1);
    assertEquals(1L, embed.getAttributes().get(AttributeKey.longKey("vision.images")));
    assertEquals(
        expectCacheHit, embed.getAttributes().get(AttributeKey.booleanKey("vision.cache.hit")));
    assertEquals(
        expectCacheHit, vision.getAttributes().get(AttributeKey.booleanKey("vision.cache.hit")));
    assertEquals(tiles, vision.getAttributes().get(AttributeKey.longKey("vision.tiles")));
    if (expectCacheHit) {
      assertTrue(
          t.stream()
              .noneMatch(s -> s.getName().equals("preprocess") || s.getName().equals("forward")),
          "a cache hit neither preprocesses nor runs the tower: " + names(t));
      assertEquals(0L, embed.getAttributes().get(AttributeKey.longKey("vision.tiles.computed")));
    } else {
      assertParent(embed, one(t, "preprocess", SpanKind.INTERNAL));
      assertParent(embed, one(t, "forward", SpanKind.INTERNAL));
      assertEquals(tiles, embed.getAttributes().get(AttributeKey.longKey("vision.tiles.computed")));
    }
    // image tokens = tiles x image_seq_len (+ the global image's) — the gateway expanded what
    // vision reported
    assertTrue(
        fin.getUsage().getImageTokens() > 0 && fin.getUsage().getImageTokens() % tiles == 0,
        "image tokens " + fin.getUsage().getImageTokens() + " for " + tiles + " tiles");

    SpanData decode =
        t.stream()
            .filter(
                s -> s.getName().equals("decode") && s.getParentSpanId().equals(chat.getSpanId()))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no decode under chat: " + names(t)));
    SpanData genClient = one(t, "tandem.decoder.v1.DecoderService/Generate", SpanKind.CLIENT);
    assertParent(decode, genClient);
    SpanData genServer = one(t, "tandem.decoder.v1.DecoderService/Generate", SpanKind.SERVER);
    assertParent(genClient, genServer);
    SpanData generate = one(t, "generate", SpanKind.INTERNAL);
    assertParent(genServer, generate);
    List<String> stages = children(t, generate).stream().map(SpanData::getName).sorted().toList();
    assertEquals(List.of("decode", "prefill", "queue"), stages);
    SpanData prefill =
        children(t, generate).stream()
            .filter(s -> s.getName().equals("prefill"))
            .findFirst()
            .orElseThrow();
    SpanData decoderDecode =
        children(t, generate).stream()
            .filter(s -> s.getName().equals("decode"))
            .findFirst()
            .orElseThrow();
    assertFalse(
        decoderDecode.getStartEpochNanos() < prefill.getEndEpochNanos(),
        "decode starts after prefill ends");
    assertFalse(
        decoderDecode.getEndEpochNanos() > generate.getEndEpochNanos() + 1_000_000,
        "decode ends within generate");
    long generated = fin.getUsage().getCompletionTokens();
    assertEquals(MAX_NEW, generated);
    assertEquals(
        generated,
        generate.getAttributes().get(AttributeKey.longKey("gen_ai.usage.output_tokens")));
    assertEquals(
        (long) fin.getUsage().getPromptTokens(),
        generate.getAttributes().get(AttributeKey.longKey("gen_ai.usage.input_tokens")));
    assertEquals(
        (long) fin.getUsage().getImageTokens(),
        generate.getAttributes().get(AttributeKey.longKey("decoder.image_tokens")));
    assertTrue(
        children(t, decode).stream()
            .allMatch(
                s -> s.getSpanId().equals(genClient.getSpanId()) || s.getName().equals("parse")),
        "decode's children are the Generate call and parse spans: " + names(t));

    Attributes a = chat.getAttributes();
    assertEquals("chat", a.get(AttributeKey.stringKey("gen_ai.operation.name")));
    assertEquals(
        GatewayServer.modelName(model), a.get(AttributeKey.stringKey("gen_ai.request.model")));
    assertEquals(requestId, a.get(AttributeKey.stringKey("gen_ai.response.id")));
    assertEquals((long) MAX_NEW, a.get(AttributeKey.longKey("gen_ai.request.max_tokens")));
    assertEquals(0.7, a.get(AttributeKey.doubleKey("gen_ai.request.temperature")));
    assertEquals(0.9, a.get(AttributeKey.doubleKey("gen_ai.request.top_p")));
    assertEquals(20L, a.get(AttributeKey.longKey("gen_ai.request.top_k")));
    assertEquals(42L, a.get(AttributeKey.longKey("gen_ai.request.seed")));
    assertEquals(
        List.of("length"), a.get(AttributeKey.stringArrayKey("gen_ai.response.finish_reasons")));
    assertEquals(
        (long) fin.getUsage().getPromptTokens(),
        a.get(AttributeKey.longKey("gen_ai.usage.input_tokens")));
    assertEquals(generated, a.get(AttributeKey.longKey("gen_ai.usage.output_tokens")));
    assertEquals(
        (long) fin.getUsage().getImageTokens(),
        a.get(AttributeKey.longKey("tandem.usage.image_tokens")));

    // Never a span per token: the whole trace is a fixed handful of spans whatever the length.
    assertTrue(t.size() <= 20, t.size() + " spans: " + names(t));
    return chat;
  }

  static HistogramPointData histogram(List<MetricData> metrics, String name) {
    MetricData m =
        metrics.stream()
            .filter(x -> x.getName().equals(name))
            .findFirst()
            .orElseThrow(
                () ->
                    new AssertionError(
                        "no metric "
                            + name
                            + " in "
                            + metrics.stream().map(MetricData::getName).toList()));
    assertEquals("s", m.getUnit(), name);
    return m.getHistogramData().getPoints().iterator().next();
  }

  static long sum(List<MetricData> metrics, String name, String attr, String value) {
    return metrics.stream()
        .filter(x -> x.getName().equals(name))
        .flatMap(x -> x.getLongSumData().getPoints().stream())
        .filter(
            p -> attr == null || value.equals(p.getAttributes().get(AttributeKey.stringKey(attr))))
        .mapToLong(LongPointData::getValue)
        .sum();
  }

  @Test
  void aChatInOneProcessIsOneTraceWithEveryStageAndTheMetricsRecordIt() throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    InMemoryMetricReader metrics = InMemoryMetricReader.create();
    String name = "trace-" + UUID.randomUUID();
    try (Telemetry telemetry = Telemetry.of(sdk("tandem", spans, metrics));
        AllInOne server =
            AllInOne.start(model, "cpu", env(), InProcessServerBuilder.forName(name), telemetry)) {
      ManagedChannel ch =
          InProcessChannelBuilder.forName(name)
              .maxInboundMessageSize(64 << 20)
              .intercept(telemetry.clientInterceptor())
              .build();
      try {
        // A client that is not tracing: the gateway's server span is the root.
        ManagedChannel plain =
            InProcessChannelBuilder.forName(name).maxInboundMessageSize(64 << 20).build();
        ChatFinal first = chat(plain, "r1");
        ChatFinal second = chat(plain, "r2");
        plain.shutdownNow();
        assertEquals(32, first.getTraceId().length(), "the final chunk carries the trace id");
        assertFalse(first.getTraceId().equals(second.getTraceId()), "each chat is its own trace");
        assertChatTrace(trace(spans, first.getTraceId()), first, "r1", false);
        assertChatTrace(trace(spans, second.getTraceId()), second, "r2", true);

        List<MetricData> m = new ArrayList<>(metrics.collectAllMetrics());
        assertEquals(
            2, histogram(m, "gen_ai.server.time_to_first_token").getCount(), "one TTFT per chat");
        assertEquals(2, histogram(m, "gen_ai.server.request.duration").getCount());
        assertEquals(2, histogram(m, "gen_ai.server.time_per_output_token").getCount());
        HistogramPointData ttft = histogram(m, "gen_ai.server.time_to_first_token");
        assertEquals(
            "chat", ttft.getAttributes().get(AttributeKey.stringKey("gen_ai.operation.name")));
        assertTrue(ttft.getSum() > 0 && ttft.getSum() < 60, "TTFT in seconds: " + ttft.getSum());
        assertEquals(1, sum(m, "vision.cache.requests", "vision.cache.result", "hit"));
        assertEquals(1, sum(m, "vision.cache.requests", "vision.cache.result", "miss"));
        assertTrue(sum(m, "vision.cache.size", null, null) > 0, "cache bytes");
        assertTrue(sum(m, "decoder.kv_cache.capacity", null, null) >= 2 * 1024);
        assertTrue(sum(m, "decoder.tokens.generated", null, null) >= 2 * MAX_NEW);
        assertEquals(0, sum(m, "decoder.sequences.active", null, null));
        assertEquals(0, sum(m, "decoder.queue.length", null, null));
        assertTrue(m.stream().anyMatch(x -> x.getName().equals("decoder.kv_cache.usage")));

        // A tracing client: its trace continues through all three services.
        spans.reset();
        io.opentelemetry.api.trace.Span root =
            telemetry.tracer("test").spanBuilder("client").startSpan();
        ChatFinal traced;
        try (var s = root.makeCurrent()) {
          traced = chat(ch, "r3");
        } finally {
          root.end();
        }
        assertEquals(root.getSpanContext().getTraceId(), traced.getTraceId());

        // A client that cancels after the first chunk: the chat span still ends, marked cancelled.
        spans.reset();
        java.util.concurrent.CompletableFuture<Void> done =
            new java.util.concurrent.CompletableFuture<>();
        ChatRequest longOne =
            request("r4").toBuilder()
                .setParams(GenerationParams.newBuilder().setMaxNewTokens(500).setMinNewTokens(500))
                .build();
        ChatServiceGrpc.newStub(ch)
            .chat(
                longOne,
                new io.grpc.stub.ClientResponseObserver<ChatRequest, ChatChunk>() {
                  io.grpc.stub.ClientCallStreamObserver<ChatRequest> call;

                  @Override
                  public void beforeStart(io.grpc.stub.ClientCallStreamObserver<ChatRequest> c) {
                    call = c;
                  }

                  @Override
                  public void onNext(ChatChunk c) {
                    call.cancel("test cancels", null);
                  }

                  @Override
                  public void onError(Throwable t) {
                    done.complete(null);
                  }

                  @Override
                  public void onCompleted() {
                    done.completeExceptionally(
                        new AssertionError("the stream should have been cancelled"));
                  }
                });
        done.get(60, TimeUnit.SECONDS);
        SpanData cancelled = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (cancelled == null && System.nanoTime() < deadline) {
          cancelled =
              spans.getFinishedSpanItems().stream()
                  .filter(x -> x.getName().equals("chat"))
                  .findFirst()
                  .orElse(null);
          Thread.sleep(20);
        }
        assertNotNull(cancelled, "the cancelled chat's span ended");
        assertEquals(
            List.of("cancelled"),
            cancelled
                .getAttributes()
                .get(AttributeKey.stringArrayKey("gen_ai.response.finish_reasons")));
      } finally {
        ch.shutdownNow();
      }
    }
  }

  @Test
  void aChatOverLocalhostPortsWithOneSdkPerServiceIsStillOneTrace() throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    InMemoryMetricReader gwMetrics = InMemoryMetricReader.create();
    Env env = new Env(env());
    try (Telemetry vt = Telemetry.of(sdk("tandem-vision", spans, InMemoryMetricReader.create()));
        Telemetry dt = Telemetry.of(sdk("tandem-decoder", spans, InMemoryMetricReader.create()));
        Telemetry gt = Telemetry.of(sdk("tandem-gateway", spans, gwMetrics));
        VisionServer vision =
            VisionServer.start(
                VisionServerConfig.fromEnv(env),
                ServerHost.inProcess(NettyServerBuilder.forPort(0)).withTelemetry(vt))) {
      DecoderServerConfig dc = DecoderServerConfig.from(DecoderSettings.REGISTRY.resolve(env()));
      try (DecoderServer decoder =
          DecoderServer.start(
              Qwen3ForCausalLM.load(
                  model,
                  new DecoderOptions(dc.device(), dc.dtype(), dc.maxBatch(), dc.maxSeqLen())),
              DecoderServer.ModelInfo.fromDir(model),
              dc,
              ServerHost.inProcess(NettyServerBuilder.forPort(0)).withTelemetry(dt))) {
        GatewayServer gw =
            GatewayServer.start(
                new GatewayServer.Config(
                    model,
                    "localhost:" + vision.port(),
                    "localhost:" + decoder.port(),
                    0,
                    64 << 20),
                GatewayServer.publicHost(0, Env.system(), gt),
                Env.system());
        ManagedChannel ch =
            NettyChannelBuilder.forAddress("localhost", gw.port())
                .usePlaintext()
                .maxInboundMessageSize(64 << 20)
                .build();
        try {
          ChatFinal fin = chat(ch, "net-1");
          List<SpanData> t = trace(spans, fin.getTraceId());
          assertChatTrace(t, fin, "net-1", false);
          for (SpanData s : t) {
            String service = s.getResource().getAttribute(AttributeKey.stringKey("service.name"));
            String expected =
                switch (s.getName()) {
                  case "embed", "cache", "preprocess", "forward" -> "tandem-vision";
                  case "generate", "queue", "prefill" -> "tandem-decoder";
                  case "chat", "tokenize", "vision", "parse" -> "tandem-gateway";
                  default -> null;
                };
            if (expected != null) assertEquals(expected, service, s.getName());
          }
          assertEquals(
              1,
              histogram(
                      new ArrayList<>(gwMetrics.collectAllMetrics()),
                      "gen_ai.server.time_to_first_token")
                  .getCount());
        } finally {
          ch.shutdownNow();
          gw.close();
        }
      }
    }
  }
}
