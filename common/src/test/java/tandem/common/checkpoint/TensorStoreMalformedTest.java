package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Malformed or hostile safetensors headers and shard indexes. */
class TensorStoreMalformedTest {
  @TempDir Path dir;

  private Path raw(byte[] header, int dataBytes) throws IOException {
    ByteBuffer b =
        ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(header.length).put(header);
    Path d = Files.createDirectories(dir.resolve("raw" + System.nanoTime()));
    Files.write(d.resolve("model.safetensors"), b.array());
    return d;
  }

  private Path raw(String headerJson, int dataBytes) throws IOException {
    return raw(headerJson.getBytes(StandardCharsets.UTF_8), dataBytes);
  }

  /** What open() does with the folder: the exception, or a description of what it accepted. */
  private static String openOutcome(Path d) {
    try (TensorStore s = TensorStore.open(d)) {
      return "accepted: " + s.infos();
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * data_offsets near Long.MAX_VALUE: {@code dataStart + end} wrapped negative, so the bounds check
   * {@code dataStart + end > size} passed and the header was accepted; the first read then failed
   * with a bare "Negative position" naming neither the file nor the tensor. Refused at open.
   */
  @Test
  void offsetsThatOverflowWhenAddedToTheDataStartAreRefusedAtOpen() throws Exception {
    long end = Long.MAX_VALUE;
    long begin = end - 4;
    Path d =
        raw(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":["
                + begin
                + ","
                + end
                + "]}}",
            4);
    String readFailure = "no read attempted";
    try (TensorStore s = TensorStore.open(d)) {
      try {
        s.readRows("w", new long[] {1}, (r, row) -> {});
        readFailure = "readRows succeeded";
      } catch (RuntimeException e) {
        readFailure = e.toString();
      }
      fail(
          "header with data_offsets ["
              + begin
              + ", "
              + end
              + "] in a 4-byte data area was accepted by open(); reading it then gives: "
              + readFailure);
    } catch (IOException expected) {
      assertTrue(expected.getMessage().contains("w"), expected.getMessage());
    }
  }

  /**
   * The same name twice in one header: gson kept the last entry silently. open() refused the same
   * name in two shards but not twice in one file (where another reader may pick the other entry).
   */
  @Test
  void aNameTwiceInOneHeaderIsRefused() throws Exception {
    Path d =
        raw(
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8);
    String outcome = openOutcome(d);
    assertEquals(null, outcome, "duplicate tensor name in one header was " + outcome);
  }

  /**
   * Two tensors over the same bytes: the safetensors format forbids overlaps (the Rust and Python
   * readers refuse such a file); this reader mapped both silently.
   */
  @Test
  void overlappingDataRangesAreRefused() throws Exception {
    Path d =
        raw(
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            12);
    String outcome = openOutcome(d);
    assertEquals(null, outcome, "overlapping data_offsets were " + outcome);
  }

  /**
   * Non-integer shape and offset values were truncated (gson's getAsLong on 1.9 gives 1) instead of
   * being refused: the tensor was read with a shape the file does not state.
   */
  @Test
  void aFractionalDimensionIsRefusedNotTruncated() throws Exception {
    Path d = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.9],\"data_offsets\":[0,4]}}", 4);
    String outcome = openOutcome(d);
    assertEquals(null, outcome, "shape [1.9] was " + outcome);
  }

  /** A header that is not UTF-8 was decoded with U+FFFD replacements instead of being refused. */
  @Test
  void aHeaderThatIsNotUtf8IsRefused() throws Exception {
    byte[] json =
        "{\"w?\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
            .getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < json.length; i++) if (json[i] == '?') json[i] = (byte) 0xFF;
    Path d = raw(json, 4);
    String outcome = openOutcome(d);
    assertEquals(null, outcome, "invalid UTF-8 header was " + outcome);
  }

  /**
   * A weight_map value that is not a string escaped as a raw gson exception ("JsonObject", "Array
   * must have size 1") instead of an IOException naming the index file.
   */
  @Test
  void aWeightMapValueThatIsNotAStringFailsWithAnIoExceptionNamingTheIndex() throws Exception {
    Files.writeString(
        dir.resolve("model.safetensors.index.json"),
        "{\"metadata\":{},\"weight_map\":{\"w\":{\"file\":\"model-00001.safetensors\"}}}");
    Throwable t = assertThrows(Throwable.class, () -> TensorStore.open(dir).close());
    assertTrue(
        t instanceof IOException && t.getMessage().contains("model.safetensors.index.json"),
        "got " + t);
  }

  /**
   * readRows returned without calling the consumer (and marked the tensor used) when a row is
   * longer than Integer.MAX_VALUE / 8 elements: a silent empty read, not an error. The data area is
   * a sparse file, so the test needs no real disk space.
   */
  @Test
  void readRowsNeverSilentlySkipsATensorWithLongRows() throws Exception {
    long n = 1L << 28; // Integer.MAX_VALUE / 8 + 1 elements in one row
    byte[] h =
        ("{\"w\":{\"dtype\":\"BF16\",\"shape\":[" + n + "],\"data_offsets\":[0," + 2 * n + "]}}")
            .getBytes(StandardCharsets.UTF_8);
    Path d = Files.createDirectories(dir.resolve("long"));
    try (RandomAccessFile f = new RandomAccessFile(d.resolve("model.safetensors").toFile(), "rw")) {
      ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN);
      b.putLong(h.length).put(h);
      f.write(b.array());
      f.setLength(8 + h.length + 2 * n);
    }
    try (TensorStore s = TensorStore.open(d)) {
      int[] rows = {0};
      try {
        s.readRows("w", new long[] {n}, (r, row) -> rows[0]++);
      } catch (IllegalArgumentException refusedClearly) {
        return;
      }
      assertEquals(
          1,
          rows[0],
          "readRows of w "
              + Arrays.toString(new long[] {n})
              + " returned normally after delivering "
              + rows[0]
              + " rows; unused() = "
              + s.unused());
    }
  }
}
