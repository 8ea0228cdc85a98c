package tandem.common.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import tandem.common.tensor.HalfFloats;

/**
 * Reads the tensors of a Hugging Face checkpoint folder: {@code model.safetensors}, or the shards
 * listed in {@code model.safetensors.index.json} ({@code weight_map}). Headers are parsed by hand
 * and data is memory-mapped, because DJL's own reader copies the whole file onto the heap, and DJL
 * cannot create bfloat16 arrays at all (its JNI maps data types 0-8 only).
 *
 * <p>Every tensor handed out is float32: BF16 and F16 are widened in Java, F32 is mapped
 * copy-on-write ({@code MapMode.PRIVATE}) so that in-place NDArray ops on it cannot crash the JVM.
 * The store remembers which names were read, so loaders can report unused tensors.
 */
public final class TensorStore implements AutoCloseable {
  /** Upper bound for a safetensors JSON header; real ones are well under 1 MB. */
  private static final long MAX_HEADER_BYTES = 100L << 20;

  private record Entry(TensorInfo info, Shard shard, long offset, long length) {}

  /**
   * One safetensors file. Java only maps copy-on-write ({@code MapMode.PRIVATE}) through a channel
   * opened for writing, so a second channel is opened lazily for F32 tensors; nothing is ever
   * written through it.
   */
  private static final class Shard {
    final Path file;
    final FileChannel channel;
    private FileChannel rw;
    private boolean rwFailed;

    Shard(Path file, FileChannel channel) {
      this.file = file;
      this.channel = channel;
    }

    /**
     * The read-write channel, or null when the file cannot be opened for writing (read-only
     * volume).
     */
    synchronized FileChannel privateChannel() {
      if (rw == null && !rwFailed) {
        try {
          rw = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
          rwFailed = true;
        }
      }
      return rw;
    }

    synchronized void close() throws IOException {
      channel.close();
      if (rw != null) rw.close();
    }
  }

  private final Path source;
  private final Map<String, Entry> entries;
  private final List<Shard> shards;
  private final Set<String> used = ConcurrentHashMap.newKeySet();

  private TensorStore(Path source, Map<String, Entry> entries, List<Shard> shards) {
    this.source = source;
    this.entries = entries;
    this.shards = shards;
  }

  /**
   * Opens a checkpoint folder (or a single {@code .safetensors} file). Fails with a message naming
   * the folder when it holds neither {@code model.safetensors} nor {@code
   * model.safetensors.index.json}.
   */
  public static TensorStore open(Path checkpointDir) throws IOException {
    List<Path> files = new ArrayList<>();
    if (Files.isRegularFile(checkpointDir)) {
      files.add(checkpointDir);
    } else if (!Files.isDirectory(checkpointDir)) {
      throw new IOException("checkpoint folder " + checkpointDir + " does not exist");
    } else if (Files.isRegularFile(checkpointDir.resolve("model.safetensors"))) {
      files.add(checkpointDir.resolve("model.safetensors"));
    } else if (Files.isRegularFile(checkpointDir.resolve("model.safetensors.index.json"))) {
      files.addAll(shardsOf(checkpointDir, checkpointDir.resolve("model.safetensors.index.json")));
    } else {
      throw new IOException(
          "no safetensors weights in "
              + checkpointDir
              + ": expected model.safetensors or model.safetensors.index.json");
    }
    Map<String, Entry> entries = new TreeMap<>();
    List<Shard> shards = new ArrayList<>();
    try {
      for (Path f : files) {
        Shard shard = new Shard(f, FileChannel.open(f, StandardOpenOption.READ));
        shards.add(shard);
        for (Entry e : readHeader(shard)) {
          Entry prev = entries.put(e.info.name(), e);
          if (prev != null) {
            throw new IOException(
                "tensor " + e.info.name() + " appears in both " + prev.shard.file + " and " + f);
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      for (Shard s : shards) s.close();
      throw e;
    }
    return new TensorStore(checkpointDir, Collections.unmodifiableMap(entries), shards);
  }

  private static List<Path> shardsOf(Path dir, Path index) throws IOException {
    JsonObject root;
    try {
      root = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
    } catch (RuntimeException e) {
      throw new IOException("cannot parse " + index + ": " + e.getMessage(), e);
    }
    JsonElement map = root.get("weight_map");
    if (map == null || !map.isJsonObject())
      throw new IOException(index + " has no weight_map object");
    Set<String> names = new TreeSet<>();
    for (Map.Entry<String, JsonElement> e : map.getAsJsonObject().entrySet()) {
      JsonElement v = e.getValue();
      if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString())
        throw new IOException(
            index + ": weight_map value for " + e.getKey() + " is not a file name: " + v);
      names.add(v.getAsString());
    }
    List<Path> out = new ArrayList<>();
    for (String n : names) {
      Path p = dir.resolve(n).normalize();
      if (!p.startsWith(dir.normalize()))
        throw new IOException(index + " points outside the folder: " + n);
      if (!Files.isRegularFile(p))
        throw new IOException(index + " lists shard " + n + ", which is missing");
      out.add(p);
    }
    return out;
  }

  private static List<Entry> readHeader(Shard shard) throws IOException {
    FileChannel ch = shard.channel;
    long size = ch.size();
    if (size < 8)
      throw new IOException(shard.file + " is not a safetensors file (" + size + " bytes)");
    ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, lenBuf, 0);
    long hlen = lenBuf.flip().getLong();
    if (hlen <= 0 || hlen > MAX_HEADER_BYTES || 8 + hlen > size) {
      throw new IOException(shard.file + " is not a safetensors file (header length " + hlen + ")");
    }
    ByteBuffer hbuf = ByteBuffer.allocate((int) hlen);
    readFully(ch, hbuf, 8);
    JsonObject header;
    try {
      String text =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(hbuf.flip())
              .toString();
      header = parseHeader(text);
    } catch (CharacterCodingException e) {
      throw new IOException(shard.file + " has a safetensors header that is not UTF-8", e);
    } catch (RuntimeException e) {
      throw new IOException(
          shard.file + " has a malformed safetensors header: " + e.getMessage(), e);
    }
    long dataStart = 8 + hlen;
    List<Entry> out = new ArrayList<>();
    for (Map.Entry<String, JsonElement> e : header.entrySet()) {
      if (e.getKey().equals("__metadata__")) continue;
      String name = e.getKey();
      try {
        JsonObject t = e.getValue().getAsJsonObject();
        String dtype = t.get("dtype").getAsString();
        var shapeJson = t.getAsJsonArray("shape");
        long[] shape = new long[shapeJson.size()];
        for (int i = 0; i < shape.length; i++) shape[i] = integer(shapeJson.get(i), "shape");
        var off = t.getAsJsonArray("data_offsets");
        if (off.size() != 2) throw new IOException("data_offsets must be [begin, end]: " + off);
        long begin = integer(off.get(0), "data_offsets");
        long end = integer(off.get(1), "data_offsets");
        TensorInfo info = new TensorInfo(name, dtype, shape);
        long expected;
        try {
          expected = Math.multiplyExact(info.numel(), info.elementSize());
        } catch (ArithmeticException overflow) {
          throw new IOException(
              "shape "
                  + java.util.Arrays.toString(shape)
                  + " of "
                  + dtype
                  + " needs more than 2^63 bytes");
        }
        // end > size - dataStart, not dataStart + end > size: that sum can wrap past 2^63
        if (begin < 0 || end < begin || end > size - dataStart || end - begin != expected) {
          throw new IOException(
              "bad data_offsets ["
                  + begin
                  + ", "
                  + end
                  + "] for "
                  + info
                  + " (needs "
                  + expected
                  + " bytes, data area is "
                  + (size - dataStart)
                  + ")");
        }
        out.add(new Entry(info, shard, dataStart + begin, end - begin));
      } catch (IOException ex) {
        throw new IOException(shard.file + ": tensor " + name + ": " + ex.getMessage(), ex);
      } catch (RuntimeException ex) {
        throw new IOException(
            shard.file + ": malformed header entry for tensor " + name + ": " + ex, ex);
      }
    }
    // the format's rule, which the Python and Rust readers enforce: no two tensors share bytes
    List<Entry> byStart = new ArrayList<>(out);
    byStart.sort(java.util.Comparator.comparingLong((Entry x) -> x.offset));
    for (int i = 1; i < byStart.size(); i++) {
      Entry a = byStart.get(i - 1), b = byStart.get(i);
      if (b.offset < a.offset + a.length) {
        throw new IOException(
            shard.file
                + ": tensors "
                + a.info.name()
                + " and "
                + b.info.name()
                + " overlap in the data area");
      }
    }
    return out;
  }

  /** The header's object, refusing a name that appears twice (gson would keep the last). */
  private static JsonObject parseHeader(String text) throws IOException {
    JsonObject header = JsonParser.parseString(text).getAsJsonObject();
    try (com.google.gson.stream.JsonReader r =
        new com.google.gson.stream.JsonReader(new java.io.StringReader(text))) {
      Set<String> seen = new java.util.HashSet<>();
      r.beginObject();
      while (r.hasNext()) {
        String name = r.nextName();
        if (!seen.add(name)) throw new IOException("tensor " + name + " appears twice");
        r.skipValue();
      }
    }
    return header;
  }

  /**
   * A whole JSON number that fits a long: 1.9 or 2^64 + 4 are refused, not truncated or wrapped.
   */
  private static long integer(JsonElement e, String what) throws IOException {
    try {
      return e.getAsJsonPrimitive().getAsBigDecimal().longValueExact();
    } catch (ArithmeticException | NumberFormatException | IllegalStateException ex) {
      throw new IOException(what + " holds " + e + ", not a whole number in the 64-bit range");
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos);
      if (n < 0) throw new IOException("unexpected end of file");
      pos += n;
    }
  }

  /** The folder (or file) this store was opened from. */
  public Path source() {
    return source;
  }

  /** All tensor names, sorted. */
  public Set<String> names() {
    return entries.keySet();
  }

  public boolean has(String name) {
    return entries.containsKey(name);
  }

  /** Header entry of a tensor; fails with "missing tensor X" when absent. Does not mark it used. */
  public TensorInfo info(String name) {
    return entry(name).info;
  }

  private Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) throw new IllegalArgumentException("missing tensor " + name + " in " + source);
    return e;
  }

  /**
   * The raw little-endian bytes of a tensor as stored (read-only mapping). Marks the name used. For
   * hashing, copying into another checkpoint, or dtypes this class does not widen.
   */
  public ByteBuffer raw(String name) {
    Entry e = entry(name);
    used.add(name);
    try {
      return e.shard
          .channel
          .map(FileChannel.MapMode.READ_ONLY, e.offset, checkedLength(e, e.length))
          .order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException ex) {
      throw new UncheckedIOException("cannot map tensor " + name + " from " + e.shard.file, ex);
    }
  }

  /**
   * float32 values, native byte order, direct buffer; BF16/F16 converted in Java; F32 memory-mapped
   * ({@code MapMode.PRIVATE}, no copy). Marks the name used.
   */
  public ByteBuffer float32(String name) {
    Entry e = entry(name);
    long n = e.info.numel();
    checkedLength(e, n * 4);
    try {
      ByteBuffer out;
      switch (e.info.dtype()) {
        case "F32" -> {
          FileChannel rw = e.shard.privateChannel();
          if (rw != null && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            out =
                rw.map(FileChannel.MapMode.PRIVATE, e.offset, e.length)
                    .order(ByteOrder.LITTLE_ENDIAN);
          } else {
            // read-only file (or a big-endian host): one copy instead of a private mapping
            ByteBuffer mapped =
                e.shard.channel.map(FileChannel.MapMode.READ_ONLY, e.offset, e.length);
            out = ByteBuffer.allocateDirect((int) e.length).order(ByteOrder.nativeOrder());
            out.asFloatBuffer().put(mapped.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer());
          }
        }
        case "BF16", "F16" -> {
          ShortBuffer src =
              e.shard
                  .channel
                  .map(FileChannel.MapMode.READ_ONLY, e.offset, e.length)
                  .order(ByteOrder.LITTLE_ENDIAN)
                  .asShortBuffer();
          out = ByteBuffer.allocateDirect((int) (n * 4)).order(ByteOrder.nativeOrder());
          widen(src, out.asFloatBuffer(), e.info.dtype().equals("BF16"));
        }
        default ->
            throw new IllegalArgumentException(
                "tensor "
                    + name
                    + " has dtype "
                    + e.info.dtype()
                    + "; only BF16, F16 and F32 can be read as float32");
      }
      used.add(name);
      return out;
    } catch (IOException ex) {
      throw new UncheckedIOException("cannot map tensor " + name + " from " + e.shard.file, ex);
    }
  }

  /**
   * Like {@link #float32(String)}, but first checks the shape. Fails with IllegalArgumentException
   * naming the tensor, the expected and the actual shape, or "missing tensor X".
   */
  public ByteBuffer float32(String name, long... expectedShape) {
    shaped(name, expectedShape);
    return float32(name);
  }

  /**
   * Reads a tensor's values as float32 one element (or run) at a time, straight from the mapping.
   */
  public interface FloatReader {
    /** Number of elements. */
    long size();

    /** Element {@code i} in row-major order. */
    float get(int i);

    /** Copies elements [from, from + dst.length) into {@code dst}. */
    default void get(int from, float[] dst) {
      for (int k = 0; k < dst.length; k++) dst[k] = get(from + k);
    }
  }

  /**
   * A float32 view of a tensor that allocates nothing: BF16/F16 are widened per element from the
   * read-only mapping. For loaders that write their own layout (transposed, concatenated) and would
   * otherwise hold a converted copy plus their own. Checks the shape like {@link #float32(String,
   * long...)} and marks the name used.
   */
  public FloatReader reader(String name, long... expectedShape) {
    TensorInfo info = shaped(name, expectedShape);
    Entry e = entry(name);
    long n = info.numel();
    ByteBuffer mapped = raw(name);
    return switch (info.dtype()) {
      case "F32" -> {
        FloatBuffer f = mapped.asFloatBuffer();
        yield new FloatReader() {
          public long size() {
            return n;
          }

          public float get(int i) {
            return f.get(i);
          }

          @Override
          public void get(int from, float[] dst) {
            f.get(from, dst);
          }
        };
      }
      case "BF16", "F16" -> {
        ShortBuffer sb = mapped.asShortBuffer();
        boolean bf16 = info.dtype().equals("BF16");
        yield new FloatReader() {
          public long size() {
            return n;
          }

          public float get(int i) {
            short v = sb.get(i);
            return bf16 ? HalfFloats.bf16ToFloat(v) : HalfFloats.f16ToFloat(v);
          }

          @Override
          public void get(int from, float[] dst) {
            widen(sb.slice(from, dst.length), FloatBuffer.wrap(dst), bf16);
          }
        };
      }
      default ->
          throw new IllegalArgumentException(
              "tensor "
                  + name
                  + " has dtype "
                  + e.info.dtype()
                  + "; only BF16, F16 and F32 can be read as float32");
    };
  }

  /**
   * Widens a tensor into {@code dst} (from its position; the position advances), checking the
   * shape. No intermediate buffer: use it to fill memory the caller owns (an NDArray's buffer, a
   * concatenated matrix).
   */
  public void float32Into(String name, FloatBuffer dst, long... expectedShape) {
    FloatReader r = reader(name, expectedShape);
    if (dst.remaining() < r.size()) {
      throw new IllegalArgumentException(
          "destination for "
              + name
              + " has room for "
              + dst.remaining()
              + " floats, needs "
              + r.size());
    }
    float[] chunk = new float[(int) Math.min(r.size(), 1 << 16)];
    for (long from = 0; from < r.size(); from += chunk.length) {
      int len = (int) Math.min(chunk.length, r.size() - from);
      float[] c = len == chunk.length ? chunk : new float[len];
      r.get((int) from, c);
      dst.put(c);
    }
  }

  /**
   * The tensor's header entry, after checking its shape against what the config expects (the name
   * in the message).
   */
  private TensorInfo shaped(String name, long[] expectedShape) {
    TensorInfo info = info(name);
    if (!Arrays.equals(info.shape(), expectedShape)) {
      throw new IllegalArgumentException(
          "tensor "
              + name
              + " has shape "
              + Arrays.toString(info.shape())
              + " but the config expects "
              + Arrays.toString(expectedShape));
    }
    return info;
  }

  /**
   * Receives one row of a tensor read by {@link #readRows}; the array is reused for the next row.
   */
  @FunctionalInterface
  public interface RowConsumer {
    void row(int index, float[] values);
  }

  /**
   * Reads a tensor row by row (the last dimension is a row) as float32, with positional reads into
   * a small heap buffer: no mapping, so none of the file stays resident in this process and the
   * page cache is not counted in its RSS. For loaders that keep their own compact copy (bf16, int8)
   * and must not hold the file's pages beside it. Checks the shape like {@link #float32(String,
   * long...)} and marks the name used.
   */
  public void readRows(String name, long[] expectedShape, RowConsumer consumer) {
    TensorInfo info = shaped(name, expectedShape);
    Entry e = entry(name);
    String dtype = info.dtype();
    if (!dtype.equals("F32") && !dtype.equals("BF16") && !dtype.equals("F16")) {
      throw new IllegalArgumentException(
          "tensor "
              + name
              + " has dtype "
              + dtype
              + "; only BF16, F16 and F32 can be read as float32");
    }
    long n = info.numel();
    long rowLen = expectedShape.length == 0 ? 1 : expectedShape[expectedShape.length - 1];
    if (rowLen <= 0 || n == 0) {
      used.add(name);
      return;
    }
    if (rowLen > Integer.MAX_VALUE / 8) {
      throw new IllegalArgumentException(
          "tensor "
              + name
              + " has rows of "
              + rowLen
              + " elements; readRows reads rows of at most "
              + Integer.MAX_VALUE / 8);
    }
    int size = info.elementSize();
    long rows = n / rowLen;
    int rowBytes = (int) (rowLen * size);
    // 1 MiB reads: few system calls, and little garbage for a loader that reads hundreds of tensors
    int perChunk = (int) Math.max(1, Math.min(rows, (1 << 20) / rowBytes));
    ByteBuffer buf = ByteBuffer.allocate(perChunk * rowBytes).order(ByteOrder.LITTLE_ENDIAN);
    float[] row = new float[(int) rowLen];
    try {
      for (long r0 = 0; r0 < rows; r0 += perChunk) {
        int count = (int) Math.min(perChunk, rows - r0);
        buf.clear().limit(count * rowBytes);
        readFully(e.shard.channel, buf, e.offset + r0 * rowBytes);
        buf.flip();
        for (int r = 0; r < count; r++) {
          switch (dtype) {
            case "F32" -> buf.asFloatBuffer().get(row);
            case "BF16" -> {
              for (int k = 0; k < row.length; k++) {
                row[k] = HalfFloats.bf16ToFloat(buf.getShort(buf.position() + 2 * k));
              }
            }
            default -> {
              for (int k = 0; k < row.length; k++) {
                row[k] = HalfFloats.f16ToFloat(buf.getShort(buf.position() + 2 * k));
              }
            }
          }
          buf.position(buf.position() + rowBytes);
          consumer.row((int) (r0 + r), row);
        }
      }
    } catch (IOException ex) {
      throw new UncheckedIOException("cannot read tensor " + name + " from " + e.shard.file, ex);
    }
    used.add(name);
  }

  /**
   * Names never read through {@link #float32} or {@link #raw}, sorted (for the "unused tensors"
   * report).
   */
  public Set<String> unused() {
    Set<String> out = new TreeSet<>(entries.keySet());
    out.removeAll(used);
    return Collections.unmodifiableSet(out);
  }

  /**
   * Marks a name as deliberately used without reading it (e.g. an lm_head checked against the
   * embedding).
   */
  public void markUsed(String name) {
    entry(name);
    used.add(name);
  }

  /** Header entries of every tensor, in name order. */
  public Map<String, TensorInfo> infos() {
    Map<String, TensorInfo> out = new LinkedHashMap<>();
    entries.forEach((k, v) -> out.put(k, v.info));
    return out;
  }

  private static int checkedLength(Entry e, long bytes) {
    if (bytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "tensor "
              + e.info.name()
              + " needs "
              + bytes
              + " bytes, more than one Java buffer can hold (2 GiB)");
    }
    return (int) bytes;
  }

  /**
   * Bulk BF16/F16 → float32 in chunks: per-element get/put on direct buffers is several times
   * slower.
   */
  static void widen(ShortBuffer src, FloatBuffer dst, boolean bf16) {
    int n = src.remaining();
    int chunk = Math.min(n, 1 << 14);
    short[] in = new short[chunk];
    float[] out = new float[chunk];
    for (int from = 0; from < n; from += chunk) {
      int len = Math.min(chunk, n - from);
      src.get(in, 0, len);
      if (bf16) {
        for (int k = 0; k < len; k++) out[k] = HalfFloats.bf16ToFloat(in[k]);
      } else {
        for (int k = 0; k < len; k++) out[k] = HalfFloats.f16ToFloat(in[k]);
      }
      dst.put(out, 0, len);
    }
  }

  @Override
  public void close() {
    for (Shard s : shards) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing a read-only channel cannot lose data
      }
    }
  }
}
