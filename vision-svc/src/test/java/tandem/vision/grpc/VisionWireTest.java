package tandem.vision.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.embed.EmbedLimits;
import tandem.vision.embed.Embedder;
import tandem.vision.model.TileEncoder;
import tandem.vision.preprocess.PreprocessorConfig;

/** What crosses the wire: message sizes at the real model's width, and the trace of one call. */
class VisionWireTest {
  /** The real model's output width with a model that costs nothing: zeros of [tiles, 64, 1024]. */
  static final class ZeroTower implements TileEncoder {
    @Override
    public float[] encode(float[] pixels, int tiles) {
      return new float[tiles * outputFloatsPerTile()];
    }

    @Override
    public int tileFloats() {
      return 3 * 512 * 512;
    }

    @Override
    public int outputFloatsPerTile() {
      return 64 * 1024;
    }
  }

  @Test
  void aSeventeenTileImageAtFullWidthFitsTheConfiguredLimitsButNotGrpcDefaults() throws Exception {
    // Netty on loopback, not in-process: only a real transport serializes and enforces message
    // sizes.
    // SmolVLM2's released settings: longest edge 2048, so a 512x512 image becomes 4x4 tiles + the
    // global one.
    PreprocessorConfig pre = PreprocessorConfig.smolVlmDefaults();
    try (TileBatcher batcher = new TileBatcher(new ZeroTower(), 8, 0)) {
      Embedder embedder =
          new Embedder(
              batcher,
              new EmbeddingCache(64L << 20),
              new ImageIdRegistry(10),
              pre,
              EmbedLimits.defaults(),
              "zero-model",
              64,
              1024);
      ServerBootstrap boot =
          ServerBootstrap.start(
              NettyServerBuilder.forPort(0),
              CommonSettings.MAX_MESSAGE_BYTES.defaultValue(),
              List.of(),
              new VisionGrpcService(embedder));
      byte[] image = Files.readAllBytes(Fixtures.path("vision-tiny/goldens/image512.png"));
      EmbedRequest req =
          EmbedRequest.newBuilder()
              .addImages(ImageInput.newBuilder().setData(ByteString.copyFrom(image)))
              .build();
      ManagedChannel sized =
          NettyChannelBuilder.forAddress("localhost", boot.port())
              .usePlaintext()
              .maxInboundMessageSize(CommonSettings.MAX_MESSAGE_BYTES.defaultValue())
              .build();
      ManagedChannel stock =
          NettyChannelBuilder.forAddress("localhost", boot.port()).usePlaintext().build();
      try {
        EmbedResponse r = VisionServiceGrpc.newBlockingStub(sized).embed(req);
        assertEquals(17, r.getImages(0).getTiles());
        assertEquals(17 * 64 * 1024 * 4, r.getImages(0).getEmbeddings().getData().size());
        var e =
            assertThrows(
                StatusRuntimeException.class,
                () -> VisionServiceGrpc.newBlockingStub(stock).embed(req));
        assertEquals(
            Status.Code.RESOURCE_EXHAUSTED,
            e.getStatus().getCode()); // 4.46 MB > gRPC's 4 MiB default
        // half precision halves it below the default
        EmbedResponse half =
            VisionServiceGrpc.newBlockingStub(stock)
                .embed(
                    req.toBuilder()
                        .setOutputDtype(tandem.proto.types.v1.DType.DTYPE_BFLOAT16)
                        .build());
        assertEquals(17 * 64 * 1024 * 2, half.getImages(0).getEmbeddings().getData().size());
      } finally {
        sized.shutdownNow();
        stock.shutdownNow();
        boot.server().shutdownNow();
      }
    }
  }

  @Test
  void oneCallIsOneTraceWithAnEmbedSpanAndItsStagesUnderTheRpcSpan() throws Exception {
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    OpenTelemetrySdk sdk =
        OpenTelemetrySdk.builder()
            .setTracerProvider(
                SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(spans))
                    .build())
            .build();
    String name = InProcessServerBuilder.generateName();
    VisionServerConfig s =
        new VisionServerConfig(
            TinyCheckpoints.vlmTiny(), "cpu", 0, 8, 2, 1 << 20, EmbedLimits.defaults(), 16 << 20);
    try (Telemetry telemetry = Telemetry.of(sdk);
        VisionServer server =
            VisionServer.start(
                s,
                ServerHost.inProcess(InProcessServerBuilder.forName(name))
                    .withTelemetry(telemetry))) {
      ManagedChannel ch =
          InProcessChannelBuilder.forName(name).maxInboundMessageSize(16 << 20).build();
      byte[] image = Files.readAllBytes(Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg"));
      VisionServiceGrpc.newBlockingStub(ch)
          .embed(
              EmbedRequest.newBuilder()
                  .addImages(ImageInput.newBuilder().setData(ByteString.copyFrom(image)))
                  .build());
      ch.shutdownNow();
      // The server span ends when the call closes, which can be just after the client has its
      // response.
      Map<String, SpanData> byName = Map.of();
      for (int i = 0; i < 100 && !byName.containsKey("tandem.vision.v1.VisionService/Embed"); i++) {
        if (i > 0) Thread.sleep(50);
        byName =
            spans.getFinishedSpanItems().stream()
                .collect(Collectors.toMap(SpanData::getName, d -> d, (a, b) -> a));
      }
      SpanData rpc = byName.get("tandem.vision.v1.VisionService/Embed");
      SpanData embed = byName.get("embed");
      assertTrue(rpc != null && embed != null, byName.keySet().toString());
      assertEquals(rpc.getSpanId(), embed.getParentSpanId());
      for (String stage : List.of("cache", "preprocess", "forward")) {
        SpanData sd = byName.get(stage);
        assertTrue(sd != null, stage + " in " + byName.keySet());
        assertEquals(embed.getSpanId(), sd.getParentSpanId(), stage);
      }
      // a4_camera_gray.jpg: 3x1 grid + global image = 4 tiles, all computed (first sight)
      assertEquals(
          4L,
          embed
              .getAttributes()
              .get(io.opentelemetry.api.common.AttributeKey.longKey("vision.tiles")));
      assertEquals(
          4L,
          embed
              .getAttributes()
              .get(io.opentelemetry.api.common.AttributeKey.longKey("vision.tiles.computed")));
      assertEquals(
          false,
          embed
              .getAttributes()
              .get(io.opentelemetry.api.common.AttributeKey.booleanKey("vision.cache.hit")));
    }
  }
}
