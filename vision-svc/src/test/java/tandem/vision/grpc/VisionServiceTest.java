package tandem.vision.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.ServerHost;
import tandem.common.io.Npy;
import tandem.common.tensor.HalfFloats;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.proto.types.v1.DType;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;
import tandem.vision.cache.EmbeddingCache;
import tandem.vision.cache.ImageIdRegistry;
import tandem.vision.embed.EmbedLimits;
import tandem.vision.embed.Embedder;
import tandem.vision.preprocess.PreprocessorConfig;

/** vision-svc end to end, in-process, on the vlm-tiny checkpoint. */
class VisionServiceTest {
  static final int MAX_IMAGE_BYTES = 1_000_000;
  static VisionServer server;
  static ManagedChannel channel;
  static VisionServiceGrpc.VisionServiceBlockingStub stub;
  static byte[] a4;
  static byte[] a3;

  @BeforeAll
  static void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    VisionServerConfig s =
        new VisionServerConfig(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            0,
            8,
            2,
            64L << 20,
            new EmbedLimits(MAX_IMAGE_BYTES, 4_000_000L, 4),
            16 << 20);
    server = VisionServer.start(s, ServerHost.inProcess(InProcessServerBuilder.forName(name)));
    channel = InProcessChannelBuilder.forName(name).maxInboundMessageSize(16 << 20).build();
    stub = VisionServiceGrpc.newBlockingStub(channel);
    a4 = Files.readAllBytes(Fixtures.path("vlm-tiny/images/a4_camera_gray.jpg"));
    a3 = Files.readAllBytes(Fixtures.path("vlm-tiny/images/a3_tiny_rgba.png"));
  }

  @AfterAll
  static void stop() {
    channel.shutdownNow();
    server.close();
  }

  static EmbedResponse embed(DType dtype, ImageInput... images) {
    return stub.embed(
        EmbedRequest.newBuilder().addAllImages(List.of(images)).setOutputDtype(dtype).build());
  }

  static ImageInput img(byte[] data) {
    return ImageInput.newBuilder().setData(ByteString.copyFrom(data)).build();
  }

  static ImageInput img(byte[] data, String id) {
    return ImageInput.newBuilder().setData(ByteString.copyFrom(data)).setImageId(id).build();
  }

  static float[] floats(ByteString b) {
    float[] f = new float[b.size() / 4];
    b.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
    return f;
  }

  @Test
  void theServerReportsServingOnceWarmedUp() {
    var health =
        HealthGrpc.newBlockingStub(channel)
            .check(HealthCheckRequest.newBuilder().setService("").build());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
  }

  @Test
  void embeddingsMatchTheReferenceAndCarryTheGridAndSizes() throws Exception {
    EmbedResponse r = embed(DType.DTYPE_UNSPECIFIED, img(a4));
    ImageEmbedding e = r.getImages(0);
    assertEquals(
        List.of(1, 3, 384, 120, 4),
        List.of(e.getRows(), e.getCols(), e.getWidth(), e.getHeight(), e.getTiles()));
    assertEquals(List.of(256L, 64L), e.getEmbeddings().getShapeList());
    assertEquals(DType.DTYPE_FLOAT32, e.getEmbeddings().getDtype());
    assertEquals(
        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(a4)),
        e.getContentHash());
    assertEquals(server.embedder().modelId(), r.getModelId());
    float[] got = floats(e.getEmbeddings().getData());
    float[] want = Npy.read(Fixtures.path("vlm-tiny/vision/a4_camera_gray.connector.npy")).floats();
    double absmax = 0, diff = 0;
    for (int i = 0; i < want.length; i++) {
      absmax = Math.max(absmax, Math.abs(want[i]));
      diff = Math.max(diff, Math.abs(got[i] - want[i]));
    }
    assertTrue(diff <= 1e-4 * absmax, "max |Δ| " + diff);
  }

  @Test
  void aRepeatedImageIsACacheHitWithIdenticalBytes() {
    EmbedResponse first = embed(DType.DTYPE_FLOAT32, img(a3));
    EmbedResponse second = embed(DType.DTYPE_FLOAT32, img(a3));
    assertTrue(second.getImages(0).getCacheHit());
    assertEquals(first.getImages(0).getEmbeddings(), second.getImages(0).getEmbeddings());
    assertEquals(0.0, second.getTimings().getEncodeMs());
    assertEquals(0.0, second.getTimings().getPreprocessMs());
  }

  @Test
  void float16AndBfloat16HalveTheBytesAndRoundTheSameValues() {
    ImageEmbedding f32 = embed(DType.DTYPE_FLOAT32, img(a4)).getImages(0);
    float[] ref = floats(f32.getEmbeddings().getData());
    for (DType t : new DType[] {DType.DTYPE_FLOAT16, DType.DTYPE_BFLOAT16}) {
      ImageEmbedding h = embed(t, img(a4)).getImages(0);
      assertEquals(t, h.getEmbeddings().getDtype());
      assertEquals(f32.getEmbeddings().getData().size() / 2, h.getEmbeddings().getData().size());
      ByteBuffer b =
          h.getEmbeddings().getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < ref.length; i += 97) {
        short want =
            t == DType.DTYPE_FLOAT16
                ? HalfFloats.floatToF16(ref[i])
                : HalfFloats.floatToBf16(ref[i]);
        assertEquals(want, b.getShort(2 * i), "element " + i);
      }
    }
  }

  @Test
  void identicalImagesInOneRequestAreEncodedOnce() {
    byte[] fresh = pngOf(7, 40, 30);
    long before = server.batcher().stats().tiles();
    EmbedResponse r = embed(DType.DTYPE_FLOAT32, img(fresh), img(fresh));
    int tiles = r.getImages(0).getTiles();
    assertEquals(tiles, server.batcher().stats().tiles() - before);
    assertEquals(r.getImages(0).getEmbeddings(), r.getImages(1).getEmbeddings());
  }

  @Test
  void aChangedPreprocessingSettingMissesTheCache() throws Exception {
    Path dir = TinyCheckpoints.vlmTiny();
    String json = Files.readString(dir.resolve("preprocessor_config.json"));
    PreprocessorConfig base = PreprocessorConfig.fromDir(dir);
    PreprocessorConfig other =
        PreprocessorConfig.fromJson(
            json.replace("\"longest_edge\": 1536", "\"longest_edge\": 1024"), null);
    assertFalse(base.cacheKey().equals(other.cacheKey()));
    EmbeddingCache shared = new EmbeddingCache(64L << 20);
    Embedder one = embedder(shared, base);
    Embedder two = embedder(shared, other);
    List<Embedder.ImageInput> in = List.of(new Embedder.ImageInput(a4, ""));
    assertFalse(one.embed(in, DType.DTYPE_FLOAT32, 0).images().get(0).cacheHit());
    assertTrue(one.embed(in, DType.DTYPE_FLOAT32, 0).images().get(0).cacheHit());
    Embedder.ImageOutput o = two.embed(in, DType.DTYPE_FLOAT32, 0).images().get(0);
    assertFalse(o.cacheHit());
    assertEquals(3, o.embedding().tiles()); // 1024 longest edge: 1x2 grid + global
  }

  @Test
  void theCacheEvictsUnderItsByteBound() throws Exception {
    // a4 is 4 tiles = 65536 bytes of float32 tokens, a3 is 7 tiles = 114688; 150000 holds only one
    // of them
    EmbeddingCache small = new EmbeddingCache(150_000);
    Embedder e = embedder(small, PreprocessorConfig.fromDir(TinyCheckpoints.vlmTiny()));
    e.embed(List.of(new Embedder.ImageInput(a4, "")), DType.DTYPE_FLOAT32, 0);
    e.embed(List.of(new Embedder.ImageInput(a3, "")), DType.DTYPE_FLOAT32, 0);
    assertEquals(1, small.stats().evictions());
    assertTrue(small.stats().bytes() <= 150_000);
    assertFalse(
        e.embed(List.of(new Embedder.ImageInput(a4, "")), DType.DTYPE_FLOAT32, 0)
            .images()
            .get(0)
            .cacheHit());
  }

  @Test
  void anImageIdBindsToItsBytesAndCannotBeReboundToOthers() {
    embed(DType.DTYPE_FLOAT32, img(a4, "camera"));
    EmbedResponse byId =
        embed(DType.DTYPE_FLOAT32, ImageInput.newBuilder().setImageId("camera").build());
    assertTrue(byId.getImages(0).getCacheHit());
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () -> embed(DType.DTYPE_FLOAT32, img(a4), img(a3, "camera")));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    String d = e.getStatus().getDescription();
    assertTrue(d.startsWith("image 1: image_id 'camera' is already bound to other image bytes"), d);
    // the refusal must not tell the caller what the id's owner sent: no content hash, of either
    // image
    assertFalse(d.matches("(?s).*[0-9a-f]{64}.*"), d);
  }

  @Test
  void anUnknownImageIdWithoutBytesIsNotFound() {
    var e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                embed(
                    DType.DTYPE_FLOAT32, ImageInput.newBuilder().setImageId("never-seen").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("image 0: image_id 'never-seen' is not known"),
        e.getStatus().getDescription());
  }

  @Test
  void badImagesGetInvalidArgumentNamingTheirIndexAndTheServiceKeepsServing() throws Exception {
    byte[] png = Files.readAllBytes(Fixtures.path("vlm-tiny/images/a1_coffee.png"));
    byte[] truncated = java.util.Arrays.copyOf(png, png.length / 2);
    byte[] notAnImage = "just some text, not pixels".getBytes(StandardCharsets.UTF_8);
    byte[] oversized = new byte[MAX_IMAGE_BYTES + 1];
    byte[] bomb = pngHeaderOnly(30_000, 30_000); // 900 Mpx declared in 100 bytes
    record Case(byte[] bytes, String expect) {}
    for (Case c :
        List.of(
            new Case(notAnImage, "image 1: "),
            new Case(truncated, "image 1: corrupt or truncated PNG"),
            new Case(oversized, "image 1 is 1000001 bytes; the limit is 1000000 bytes"),
            new Case(
                bomb,
                "image 1: PNG image is 30000x30000 = 900000000 pixels, the limit is 4000000"))) {
      long t0 = System.nanoTime();
      var e =
          assertThrows(
              StatusRuntimeException.class,
              () -> embed(DType.DTYPE_FLOAT32, img(a4), img(c.bytes())));
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
      assertTrue(
          e.getStatus().getDescription().startsWith(c.expect()), e.getStatus().getDescription());
      assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "refused quickly");
    }
    assertEquals(4, embed(DType.DTYPE_FLOAT32, img(a4)).getImages(0).getTiles());
  }

  @Test
  void tooManyImagesOrNoneAreRefused() {
    var many =
        assertThrows(
            StatusRuntimeException.class,
            () -> embed(DType.DTYPE_FLOAT32, img(a4), img(a4), img(a4), img(a4), img(a4)));
    assertEquals(Status.Code.INVALID_ARGUMENT, many.getStatus().getCode());
    assertEquals(
        "the request has 5 images; at most 4 are allowed", many.getStatus().getDescription());
    var none = assertThrows(StatusRuntimeException.class, () -> embed(DType.DTYPE_FLOAT32));
    assertEquals(Status.Code.INVALID_ARGUMENT, none.getStatus().getCode());
  }

  static Embedder embedder(EmbeddingCache cache, PreprocessorConfig pre) {
    return new Embedder(
        server.batcher(),
        cache,
        new ImageIdRegistry(100),
        pre,
        new EmbedLimits(MAX_IMAGE_BYTES, 4_000_000L, 4),
        server.embedder().modelId(),
        64,
        64);
  }

  /** A small valid RGB PNG with a seed-dependent pattern (fresh bytes the cache has not seen). */
  static byte[] pngOf(int seed, int w, int h) {
    var img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++)
        img.setRGB(x, y, (x * 31 + y * 17 + seed * 101) * 2654435 & 0xffffff);
    }
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      javax.imageio.ImageIO.write(img, "png", out);
      return out.toByteArray();
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A PNG whose header declares w x h pixels, with one tiny IDAT: a decompression bomb's shape. */
  static byte[] pngHeaderOnly(int w, int h) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    ByteBuffer ihdr =
        ByteBuffer.allocate(13)
            .putInt(w)
            .putInt(h)
            .put((byte) 8)
            .put((byte) 2)
            .put((byte) 0)
            .put((byte) 0)
            .put((byte) 0);
    chunk(out, "IHDR", ihdr.array());
    Deflater d = new Deflater();
    d.setInput(new byte[1000]);
    d.finish();
    byte[] z = new byte[100];
    int n = d.deflate(z);
    chunk(out, "IDAT", java.util.Arrays.copyOf(z, n));
    chunk(out, "IEND", new byte[0]);
    return out.toByteArray();
  }

  static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
    out.writeBytes(t);
    out.writeBytes(data);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }
}
