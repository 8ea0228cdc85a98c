package tandem.common.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy .npy format 1.0 reader/writer for little-endian C-order float32 and uint8 arrays. */
public final class Npy {
  private Npy() {}

  /**
   * An array read from a .npy file: dtype descr ({@code <f4} or {@code |u1}), shape and raw bytes
   * (LE).
   */
  public record Array(String dtype, long[] shape, ByteBuffer data) {
    public long size() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
    }

    public float[] floats() {
      if (!dtype.equals("<f4")) throw new IllegalStateException("not float32: " + dtype);
      float[] out = new float[Math.toIntExact(size())];
      data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
      return out;
    }

    public byte[] bytes() {
      byte[] out = new byte[data.remaining()];
      data.duplicate().get(out);
      return out;
    }

    @Override
    public String toString() {
      return "Npy.Array[" + dtype + " " + Arrays.toString(shape) + "]";
    }
  }

  private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']+)'");
  private static final Pattern ORDER = Pattern.compile("'fortran_order':\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

  public static Array read(Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    if (all.length < 10 || (all[0] & 0xff) != 0x93 || all[1] != 'N' || all[2] != 'U') {
      throw new IOException(file + " is not a .npy file");
    }
    int major = all[6];
    int headerLen;
    int start;
    if (major == 1) {
      headerLen = Short.toUnsignedInt(b.getShort(8));
      start = 10;
    } else {
      headerLen = b.getInt(8);
      start = 12;
    }
    String header = new String(all, start, headerLen, StandardCharsets.ISO_8859_1);
    Matcher d = DESCR.matcher(header);
    Matcher o = ORDER.matcher(header);
    Matcher s = SHAPE.matcher(header);
    if (!d.find() || !o.find() || !s.find())
      throw new IOException(file + ": bad .npy header " + header);
    if (o.group(1).equals("True")) throw new IOException(file + ": Fortran order is not supported");
    String dtype = d.group(1);
    if (!dtype.equals("<f4") && !dtype.equals("|u1")) {
      throw new IOException(
          file + ": dtype " + dtype + " is not supported (float32 <f4 or uint8 |u1)");
    }
    long[] shape =
        Arrays.stream(s.group(1).split(","))
            .map(String::trim)
            .filter(x -> !x.isEmpty())
            .mapToLong(Long::parseLong)
            .toArray();
    int dataStart = start + headerLen;
    ByteBuffer data =
        ByteBuffer.wrap(all, dataStart, all.length - dataStart)
            .slice()
            .order(ByteOrder.LITTLE_ENDIAN);
    Array a = new Array(dtype, shape, data);
    long elem = dtype.equals("<f4") ? 4 : 1;
    if (a.size() * elem != data.remaining()) {
      throw new IOException(
          file + ": payload has " + data.remaining() + " bytes, shape needs " + a.size() * elem);
    }
    return a;
  }

  public static void writeFloat32(Path file, float[] values, long... shape) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    write(file, "<f4", shape, buf.array());
  }

  public static void writeUint8(Path file, byte[] values, long... shape) throws IOException {
    write(file, "|u1", shape, values);
  }

  private static void write(Path file, String dtype, long[] shape, byte[] payload)
      throws IOException {
    long n = 1;
    for (long d : shape) n *= d;
    long elem = dtype.equals("<f4") ? 4 : 1;
    if (n * elem != payload.length) {
      throw new IllegalArgumentException(
          "shape " + Arrays.toString(shape) + " does not match " + payload.length + " bytes");
    }
    String dict =
        "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (" + joinShape(shape) + "), }";
    int total = 10 + dict.length() + 1;
    int pad = (64 - total % 64) % 64;
    String header = dict + " ".repeat(pad) + "\n";
    ByteBuffer out =
        ByteBuffer.allocate(10 + header.length() + payload.length).order(ByteOrder.LITTLE_ENDIAN);
    out.put((byte) 0x93)
        .put("NUMPY".getBytes(StandardCharsets.US_ASCII))
        .put((byte) 1)
        .put((byte) 0);
    out.putShort((short) header.length());
    out.put(header.getBytes(StandardCharsets.ISO_8859_1));
    out.put(payload);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    Files.write(file, out.array());
  }

  private static String joinShape(long[] shape) {
    if (shape.length == 1) return shape[0] + ",";
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < shape.length; i++) {
      if (i > 0) sb.append(", ");
      sb.append(shape[i]);
    }
    return sb.toString();
  }
}
