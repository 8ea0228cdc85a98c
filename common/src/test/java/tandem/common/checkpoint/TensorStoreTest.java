package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.tensor.HalfFloats;

class TensorStoreTest {
  @TempDir Path dir;

  private static final float[] VALUES = {1.0f, -2.5f, 0.15625f, 65504f, -0.0f, 3.0e-5f};

  private static ByteBuffer encode(String dtype, float[] v) {
    ByteBuffer b =
        ByteBuffer.allocate(v.length * TensorInfo.elementSize(dtype))
            .order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      switch (dtype) {
        case "F32" -> b.putFloat(f);
        case "BF16" -> b.putShort(Bf16.fromFloat(f));
        case "F16" -> b.putShort(floatToHalf(f));
        default -> throw new AssertionError(dtype);
      }
    }
    return b.flip();
  }

  /**
   * Test-side float→binary16 (round to nearest even, normal and subnormal range) to build F16
   * inputs.
   */
  private static short floatToHalf(float f) {
    int bits = Float.floatToIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    float a = Math.abs(f);
    if (a == 0) return (short) sign;
    if (a < 0x1p-14f) return (short) (sign | Math.round(a / 0x1p-24f));
    int exp = Math.getExponent(a);
    int mant = Math.round((a / (float) Math.pow(2, exp) - 1) * 1024);
    if (mant == 1024) {
      mant = 0;
      exp++;
    }
    return (short) (sign | ((exp + 15) << 10) | mant);
  }

  private static float[] floats(ByteBuffer b) {
    assertEquals(ByteOrder.nativeOrder(), b.order());
    float[] out = new float[b.remaining() / 4];
    b.duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
    return out;
  }

  private Path writeThreeDtypes() throws IOException {
    SafetensorsWriter w = new SafetensorsWriter();
    w.add(new TensorInfo("a.f32", "F32", new long[] {2, 3}), encode("F32", VALUES));
    w.add(new TensorInfo("b.bf16", "BF16", new long[] {2, 3}), encode("BF16", VALUES));
    w.add(new TensorInfo("c.f16", "F16", new long[] {6}), encode("F16", VALUES));
    w.write(dir.resolve("model.safetensors"));
    return dir;
  }

  @Test
  void readsF32Bf16AndF16AsFloat32() throws IOException {
    try (TensorStore s = TensorStore.open(writeThreeDtypes())) {
      assertEquals(Set.of("a.f32", "b.bf16", "c.f16"), s.names());
      assertArrayEquals(VALUES, floats(s.float32("a.f32", 2, 3)));
      float[] bf = floats(s.float32("b.bf16"));
      for (int i = 0; i < VALUES.length; i++)
        assertEquals(Bf16.toFloat(Bf16.fromFloat(VALUES[i])), bf[i]);
      // these values are exact in binary16 except 3e-5 (subnormal there): compare with half
      // precision
      float[] h = floats(s.float32("c.f16"));
      for (int i = 0; i < VALUES.length; i++)
        assertEquals(VALUES[i], h[i], Math.abs(VALUES[i]) * 1e-3 + 6e-8);
      assertEquals(
          Float.floatToIntBits(-0.0f), Float.floatToIntBits(h[4]), "negative zero survives F16");
      assertEquals(new TensorInfo("b.bf16", "BF16", new long[] {2, 3}), s.info("b.bf16"));
      assertTrue(s.float32("a.f32").isDirect() && s.float32("b.bf16").isDirect());
    }
  }

  @Test
  void halfPrecisionSpecialValuesWiden() {
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.f16ToFloat((short) 0x7c00));
    assertTrue(Float.isNaN(HalfFloats.f16ToFloat((short) 0x7e00)));
    assertEquals(0x1p-24f, HalfFloats.f16ToFloat((short) 0x0001));
    assertEquals(-2.0f, HalfFloats.f16ToFloat((short) 0xc000));
  }

  @Test
  void writingIntoAnF32TensorDoesNotChangeTheFile() throws IOException {
    writeThreeDtypes();
    try (TensorStore s = TensorStore.open(dir)) {
      ByteBuffer b = s.float32("a.f32");
      b.putFloat(0, 42f); // copy-on-write mapping: in-place ops are safe and private
      assertEquals(42f, b.getFloat(0));
      assertEquals(1.0f, floats(s.float32("a.f32"))[0]);
    }
  }

  @Test
  void wrongShapeNamesTheTensorAndBothShapes() throws IOException {
    try (TensorStore s = TensorStore.open(writeThreeDtypes())) {
      var e = assertThrows(IllegalArgumentException.class, () -> s.float32("a.f32", 3, 2));
      assertTrue(e.getMessage().contains("a.f32"), e.getMessage());
      assertTrue(
          e.getMessage().contains("[2, 3]") && e.getMessage().contains("[3, 2]"), e.getMessage());
    }
  }

  @Test
  void missingTensorSaysMissingTensorAndItsName() throws IOException {
    try (TensorStore s = TensorStore.open(writeThreeDtypes())) {
      var e =
          assertThrows(IllegalArgumentException.class, () -> s.float32("model.norm.weight", 64));
      assertTrue(e.getMessage().startsWith("missing tensor model.norm.weight"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> s.info("nope"));
      assertFalse(s.has("nope"));
    }
  }

  @Test
  void unusedListsExactlyTheTensorsNeverRead() throws IOException {
    try (TensorStore s = TensorStore.open(writeThreeDtypes())) {
      assertEquals(Set.of("a.f32", "b.bf16", "c.f16"), s.unused());
      s.float32("b.bf16");
      s.info("a.f32"); // looking at the header is not using it
      assertEquals(Set.of("a.f32", "c.f16"), s.unused());
      s.raw("c.f16");
      assertEquals(Set.of("a.f32"), s.unused());
    }
  }

  @Test
  void readsAShardedCheckpointThroughItsIndex() throws IOException {
    new SafetensorsWriter()
        .add(new TensorInfo("x", "F32", new long[] {2}), encode("F32", new float[] {1, 2}))
        .write(dir.resolve("model-00001-of-00002.safetensors"));
    new SafetensorsWriter()
        .add(new TensorInfo("y", "BF16", new long[] {1}), encode("BF16", new float[] {3}))
        .add(new TensorInfo("z", "F32", new long[] {}), encode("F32", new float[] {4}))
        .write(dir.resolve("model-00002-of-00002.safetensors"));
    Files.writeString(
        dir.resolve("model.safetensors.index.json"),
        """
        {"metadata": {"total_size": 14}, "weight_map": {
          "x": "model-00001-of-00002.safetensors",
          "y": "model-00002-of-00002.safetensors",
          "z": "model-00002-of-00002.safetensors"}}\
        """);
    try (TensorStore s = TensorStore.open(dir)) {
      assertEquals(List.of("x", "y", "z"), List.copyOf(s.names()));
      assertArrayEquals(new float[] {1, 2}, floats(s.float32("x", 2)));
      assertArrayEquals(new float[] {3}, floats(s.float32("y", 1)));
      assertArrayEquals(new float[] {4}, floats(s.float32("z")));
    }
  }

  @Test
  void indexNamingAMissingShardFailsClearly() throws IOException {
    Files.writeString(
        dir.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"x\": \"gone.safetensors\"}}");
    var e = assertThrows(IOException.class, () -> TensorStore.open(dir));
    assertTrue(e.getMessage().contains("gone.safetensors"), e.getMessage());
  }

  @Test
  void folderWithoutWeightsSaysWhatWasExpected() {
    var e = assertThrows(IOException.class, () -> TensorStore.open(dir));
    assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
  }

  @Test
  void truncatedFileIsRejectedWithItsName() throws IOException {
    writeThreeDtypes();
    Path f = dir.resolve("model.safetensors");
    byte[] all = Files.readAllBytes(f);
    Files.write(f, java.util.Arrays.copyOf(all, all.length - 4));
    var e = assertThrows(IOException.class, () -> TensorStore.open(dir));
    assertTrue(
        e.getMessage().contains("model.safetensors") && e.getMessage().contains("c.f16"),
        e.getMessage());
  }

  @Test
  void headerIsCompactSortedAndPaddedToEightBytes() throws IOException {
    writeThreeDtypes();
    byte[] all = Files.readAllBytes(dir.resolve("model.safetensors"));
    long hlen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(0, hlen % 8);
    String header = new String(all, 8, (int) hlen, java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(
        header.startsWith(
            "{\"__metadata__\":{\"format\":\"pt\"},\"a.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                + "\"data_offsets\":[0,24]},\"b.bf16\""),
        header);
    assertEquals(header.strip() + " ".repeat(header.length() - header.strip().length()), header);
  }

  @Test
  void roundTripOfGeneratedBf16WeightsGivesTheTrw1Values() throws IOException {
    ModelConfig cfg = ModelConfig.fromDir(tandem.common.testing.Fixtures.path("vision-tiny"));
    CheckpointGenerator.writeWeights(
        cfg, dir.resolve("model.safetensors"), new CheckpointGenerator.Options(99));
    CheckpointGenerator.writeWeights(
        cfg,
        dir.resolve("f32.safetensors"),
        new CheckpointGenerator.Options(99, List.of(), false, "F32"));
    String name = "model.vision_model.encoder.layers.1.mlp.fc1.weight";
    try (TensorStore bf = TensorStore.open(dir);
        TensorStore f32 = TensorStore.open(dir.resolve("f32.safetensors"))) {
      float[] a = floats(bf.float32(name, 128, 64));
      float[] b = floats(f32.float32(name, 128, 64));
      Trw1.Stream s = new Trw1.Stream(99, name, new long[] {128, 64}, List.of());
      for (int k = 0; k < a.length; k++) {
        assertEquals(s.floatAt(k), b[k]);
        assertEquals(Bf16.toFloat(Bf16.fromFloat(s.floatAt(k))), a[k]);
      }
      assertEquals(f32.names(), bf.names());
    }
  }

  @Test
  void readerAndFloat32IntoGiveTheSameValuesAsFloat32WithoutACopy() throws IOException {
    try (TensorStore s = TensorStore.open(writeThreeDtypes())) {
      for (String n : List.of("a.f32", "b.bf16")) {
        float[] expected = floats(s.float32(n));
        TensorStore.FloatReader r = s.reader(n, 2, 3);
        assertEquals(6, r.size());
        float[] got = new float[6];
        r.get(0, got);
        assertArrayEquals(expected, got);
        assertEquals(expected[5], r.get(5));
        java.nio.FloatBuffer dst = java.nio.FloatBuffer.allocate(8);
        dst.put(-1f);
        s.float32Into(n, dst, 2, 3);
        assertEquals(7, dst.position());
        for (int i = 0; i < 6; i++) assertEquals(expected[i], dst.get(1 + i));
      }
      assertArrayEquals(floats(s.float32("c.f16")), readAll(s.reader("c.f16", 6)));
      var e = assertThrows(IllegalArgumentException.class, () -> s.reader("a.f32", 6));
      assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> s.float32Into("a.f32", java.nio.FloatBuffer.allocate(5), 2, 3));
      assertTrue(e.getMessage().contains("room for 5 floats, needs 6"), e.getMessage());
    }
  }

  private static float[] readAll(TensorStore.FloatReader r) {
    float[] out = new float[(int) r.size()];
    r.get(0, out);
    return out;
  }

  /** A safetensors file with this raw header JSON and {@code dataBytes} zero bytes of data. */
  Path rawSafetensors(String headerJson, int dataBytes) throws IOException {
    byte[] h = headerJson.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    Path d = Files.createDirectories(dir.resolve("raw" + System.nanoTime()));
    Files.write(d.resolve("model.safetensors"), b.array());
    return d;
  }

  @Test
  void aNegativeDimensionInAHeaderIsRefusedNamingTheTensor() throws Exception {
    Path d =
        rawSafetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,-4],\"data_offsets\":[0,32]}}", 32);
    IOException e = assertThrows(IOException.class, () -> TensorStore.open(d).close());
    assertTrue(
        e.getMessage().contains("negative dimension") && e.getMessage().contains("w"),
        e.getMessage());
  }

  @Test
  void aShapeWhoseSizeOverflowsIsRefusedNotWrappedAround() throws Exception {
    // 2^32 x 2^32 elements wraps to 0 in 64-bit arithmetic, which would match data_offsets [0, 0]
    Path d =
        rawSafetensors(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
            0);
    IOException e = assertThrows(IOException.class, () -> TensorStore.open(d).close());
    assertTrue(e.getMessage().contains("overflows"), e.getMessage());
    // and an element count that fits but whose byte size does not
    Path d2 =
        rawSafetensors(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
            0);
    IOException e2 = assertThrows(IOException.class, () -> TensorStore.open(d2).close());
    assertTrue(e2.getMessage().contains("2^63"), e2.getMessage());
  }
}
