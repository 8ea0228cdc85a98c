package tandem.common.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a safetensors file the way the fixtures' writer did: tensors sorted by name, compact JSON
 * header with {@code __metadata__ {"format":"pt"}} first, header padded with spaces to a multiple
 * of 8. Data is streamed: each tensor's bytes are produced chunk by chunk by its {@link Source}, so
 * a 1.4 GB checkpoint never sits in memory. The file appears under its final name only when
 * complete (written to a temporary sibling, then moved).
 */
public final class SafetensorsWriter {
  /**
   * Produces a tensor's little-endian bytes; must write exactly {@code info.numel() * elementSize}
   * bytes.
   */
  @FunctionalInterface
  public interface Source {
    void writeTo(TensorInfo info, ChunkSink out) throws IOException;
  }

  /** Receives a tensor's bytes in order. */
  @FunctionalInterface
  public interface ChunkSink {
    void write(ByteBuffer littleEndianBytes) throws IOException;
  }

  private final Map<String, TensorInfo> infos = new TreeMap<>();
  private final Map<String, Source> sources = new TreeMap<>();

  /** Declares a tensor; names must be unique. */
  public SafetensorsWriter add(TensorInfo info, Source source) {
    TensorInfo.elementSize(info.dtype()); // rejects unknown dtypes early
    if (infos.putIfAbsent(info.name(), info) != null) {
      throw new IllegalArgumentException("tensor " + info.name() + " added twice");
    }
    sources.put(info.name(), source);
    return this;
  }

  /**
   * Declares a tensor whose bytes are already in a buffer (little-endian, exactly numel * element
   * size bytes).
   */
  public SafetensorsWriter add(TensorInfo info, ByteBuffer bytes) {
    long expected = info.numel() * info.elementSize();
    if (bytes.remaining() != expected) {
      throw new IllegalArgumentException(
          "tensor " + info + " needs " + expected + " bytes, got " + bytes.remaining());
    }
    return add(info, (i, out) -> out.write(bytes.duplicate()));
  }

  /** The header JSON (without padding) for the tensors added so far. */
  public String headerJson() {
    JsonObject root = new JsonObject();
    JsonObject meta = new JsonObject();
    meta.addProperty("format", "pt");
    root.add("__metadata__", meta);
    long offset = 0;
    for (TensorInfo info : infos.values()) {
      JsonObject t = new JsonObject();
      t.addProperty("dtype", info.dtype());
      JsonArray shape = new JsonArray();
      for (long d : info.shape()) shape.add(d);
      t.add("shape", shape);
      long len = info.numel() * info.elementSize();
      JsonArray off = new JsonArray();
      off.add(offset);
      off.add(offset + len);
      t.add("data_offsets", off);
      root.add(info.name(), t);
      offset += len;
    }
    return Configs.GSON.toJson(root);
  }

  /** Writes the file. */
  public void write(Path file) throws IOException {
    byte[] header = headerJson().getBytes(StandardCharsets.UTF_8);
    int padded = (header.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(header);
    while (head.hasRemaining()) head.put((byte) ' ');
    head.flip();

    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".part");
    try (FileChannel ch =
        FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, head);
      for (TensorInfo info : infos.values()) {
        long expected = info.numel() * info.elementSize();
        long[] written = {0};
        sources
            .get(info.name())
            .writeTo(
                info,
                buf -> {
                  written[0] += buf.remaining();
                  if (written[0] > expected)
                    throw new IOException(
                        "tensor " + info + " produced more than " + expected + " bytes");
                  writeFully(ch, buf);
                });
        if (written[0] != expected) {
          throw new IOException(
              "tensor " + info + " produced " + written[0] + " bytes, expected " + expected);
        }
      }
      ch.force(false);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) ch.write(buf);
  }
}
