package tandem.vision.preprocess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;

/** Every preprocessing reference in the fixtures, compared bit for bit. */
class PreprocessFixturesTest {
  private static final ImageDecoder DECODER = ImageDecoder.withDefaults();

  static JsonObject json(String rel) throws IOException {
    return JsonParser.parseString(Files.readString(Fixtures.path(rel))).getAsJsonObject();
  }

  static DecodedImage decode(String name) throws Exception {
    for (String ext : new String[] {".png", ".jpg"}) {
      Path p = Fixtures.root().resolve("vlm-tiny/images/" + name + ext);
      if (Files.exists(p)) return DECODER.decode(Files.readAllBytes(p));
    }
    throw new IllegalStateException("no image " + name);
  }

  static PreprocessorConfig checkpointConfig() throws IOException {
    return PreprocessorConfig.fromDir(Fixtures.path("vlm-tiny/checkpoint"));
  }

  static String sha256OfTile(float[] pv, int tile, int side) throws Exception {
    int n = 3 * side * side;
    ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(pv, tile * n, n);
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
  }

  static List<String> strings(JsonArray a) {
    List<String> out = new ArrayList<>();
    for (JsonElement e : a) out.add(e.getAsString());
    return out;
  }

  static Stream<Arguments> images() throws IOException {
    return json("vlm-tiny/preprocess.json").getAsJsonObject("images").keySet().stream()
        .map(Arguments::of);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void everyCheckpointTileHasTheReferenceSizesGridAndFloat32Hash(String name) throws Exception {
    JsonObject ref =
        json("vlm-tiny/preprocess.json").getAsJsonObject("images").getAsJsonObject(name);
    DecodedImage im = decode(name);
    assertEquals(ref.get("input_mode").getAsString(), im.mode().name());
    assertEquals(ref.getAsJsonArray("input_hw").get(0).getAsInt(), im.height());
    assertEquals(ref.getAsJsonArray("input_hw").get(1).getAsInt(), im.width());

    PreprocessorConfig cfg = checkpointConfig();
    var resized =
        SmolVlmImageProcessor.longestEdgeSize(im.height(), im.width(), cfg.size().longestEdge());
    assertEquals(ref.getAsJsonArray("resized_hw").get(0).getAsInt(), resized.height());
    assertEquals(ref.getAsJsonArray("resized_hw").get(1).getAsInt(), resized.width());
    var enc = SmolVlmImageProcessor.visionEncoderSize(resized.height(), resized.width(), 512);
    assertEquals(ref.getAsJsonArray("vision_encoder_hw").get(0).getAsInt(), enc.height());
    assertEquals(ref.getAsJsonArray("vision_encoder_hw").get(1).getAsInt(), enc.width());

    SmolVlmImageProcessor.Processed p = SmolVlmImageProcessor.preprocess(im, cfg, true);
    assertEquals(ref.get("rows").getAsInt(), p.rows());
    assertEquals(ref.get("cols").getAsInt(), p.cols());
    assertEquals(ref.get("n_tiles").getAsInt(), p.tiles());
    assertArrayEquals(
        SmolVlmImageProcessor.grid(im.height(), im.width(), cfg),
        new int[] {p.rows(), p.cols(), p.tiles()});

    List<String> pngs = strings(ref.getAsJsonArray("tiles_u8_png"));
    List<String> hashes = strings(ref.getAsJsonArray("pixel_values_sha256"));
    for (int t = 0; t < p.tiles(); t++) {
      byte[] expected = pngRgb(Fixtures.path("vlm-tiny/" + pngs.get(t)));
      byte[] actual = p.tilesU8()[t];
      int diff = maxAbsDiff(expected, actual);
      assertEquals(0, diff, name + " tile " + t + ": max |uint8 difference| vs the reference PNG");
      assertEquals(
          hashes.get(t),
          sha256OfTile(p.pixelValues(), t, 512),
          name + " tile " + t + " float32 sha256");
    }
  }

  @Test
  void theGrayJpegDecodesToExactlyWhatPillowWithLibjpegTurboGives() throws Exception {
    DecodedImage im = decode("a4_camera_gray");
    Npy.Array ref = Npy.read(Fixtures.path("vlm-tiny/preprocess/a4_camera_gray.decoded_u8.npy"));
    assertArrayEquals(new long[] {im.height(), im.width()}, ref.shape());
    assertArrayEquals(ref.bytes(), im.pixels());
  }

  @Test
  void theGrayJpegGlobalImageMatchesTheStoredFloat32PixelValues() throws Exception {
    SmolVlmImageProcessor.Processed p =
        SmolVlmImageProcessor.preprocess(decode("a4_camera_gray"), checkpointConfig());
    float[] ref =
        Npy.read(Fixtures.path("vlm-tiny/preprocess/a4_camera_gray.pixel_values.global.npy"))
            .floats();
    int n = 3 * 512 * 512;
    float[] global = new float[n];
    System.arraycopy(p.pixelValues(), 3 * n, global, 0, n);
    assertArrayEquals(ref, global);
  }

  static Stream<Arguments> altSettings() throws IOException {
    List<Arguments> out = new ArrayList<>();
    JsonArray configs = json("vlm-tiny/preprocess_alt.json").getAsJsonArray("configs");
    for (int i = 0; i < configs.size(); i++) {
      JsonObject c = configs.get(i).getAsJsonObject();
      for (String name : c.getAsJsonObject("images").keySet()) {
        out.add(
            Arguments.of(
                i,
                c.get("do_image_splitting").getAsBoolean(),
                c.getAsJsonObject("size").get("longest_edge").getAsInt(),
                name));
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "split={1} longest_edge={2} {3}")
  @MethodSource("altSettings")
  void everyAlternativeSettingMatchesItsReferenceHashes(
      int index, boolean split, int longest, String name) throws Exception {
    JsonObject ref =
        json("vlm-tiny/preprocess_alt.json")
            .getAsJsonArray("configs")
            .get(index)
            .getAsJsonObject()
            .getAsJsonObject("images")
            .getAsJsonObject(name);
    JsonObject pre = json("vlm-tiny/checkpoint/preprocessor_config.json");
    pre.addProperty("do_image_splitting", split);
    JsonObject size = new JsonObject();
    size.addProperty("longest_edge", longest);
    pre.add("size", size);
    PreprocessorConfig cfg = PreprocessorConfig.fromJson(pre.toString(), null);
    DecodedImage im = decode(name);
    var resized = SmolVlmImageProcessor.longestEdgeSize(im.height(), im.width(), longest);
    assertEquals(ref.getAsJsonArray("resized_hw").get(0).getAsInt(), resized.height());
    assertEquals(ref.getAsJsonArray("resized_hw").get(1).getAsInt(), resized.width());
    SmolVlmImageProcessor.Processed p = SmolVlmImageProcessor.preprocess(im, cfg);
    assertEquals(ref.get("rows").getAsInt(), p.rows());
    assertEquals(ref.get("cols").getAsInt(), p.cols());
    assertEquals(ref.get("n_tiles").getAsInt(), p.tiles());
    assertEquals(ref.get("image_prompt_tokens").getAsInt(), p.imageTokens(cfg.imageSeqLen()));
    List<String> hashes = strings(ref.getAsJsonArray("pixel_values_sha256"));
    for (int t = 0; t < p.tiles(); t++) {
      assertEquals(hashes.get(t), sha256OfTile(p.pixelValues(), t, 512), name + " tile " + t);
    }
  }

  @Test
  void theVisionTinyGoldenImageBecomesTheLookupTableValuesOfItsBytes() throws Exception {
    DecodedImage im =
        DECODER.decode(Files.readAllBytes(Fixtures.path("vision-tiny/goldens/image512.png")));
    PreprocessorConfig cfg = PreprocessorConfig.fromDir(Fixtures.path("vision-tiny"));
    float[] lut = Npy.read(Fixtures.path("vision-tiny/goldens/pixel_lut_f32.npy")).floats();
    SmolVlmImageProcessor.Processed p = SmolVlmImageProcessor.preprocess(im, cfg);
    assertEquals(1, p.tiles());
    assertEquals(0, p.rows());
    int plane = 512 * 512;
    float[] expected = new float[3 * plane];
    byte[] px = im.pixels();
    for (int i = 0; i < plane; i++) {
      for (int c = 0; c < 3; c++) expected[c * plane + i] = lut[px[i * 3 + c] & 0xff];
    }
    assertArrayEquals(expected, p.pixelValues());
  }

  static byte[] pngRgb(Path png) throws IOException {
    BufferedImage bi = ImageIO.read(png.toFile());
    byte[] out = new byte[bi.getWidth() * bi.getHeight() * 3];
    int i = 0;
    for (int y = 0; y < bi.getHeight(); y++) {
      for (int x = 0; x < bi.getWidth(); x++) {
        int rgb = bi.getRGB(x, y);
        out[i++] = (byte) (rgb >> 16);
        out[i++] = (byte) (rgb >> 8);
        out[i++] = (byte) rgb;
      }
    }
    return out;
  }

  static int maxAbsDiff(byte[] a, byte[] b) {
    if (a.length != b.length) return Integer.MAX_VALUE;
    int m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] & 0xff) - (b[i] & 0xff)));
    return m;
  }
}
