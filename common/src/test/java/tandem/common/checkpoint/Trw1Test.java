package tandem.common.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tandem.common.testing.Fixtures;

class Trw1Test {
  static Stream<JsonObject> selftest() throws Exception {
    JsonArray a =
        JsonParser.parseString(Files.readString(Fixtures.path("trw1-selftest.json")))
            .getAsJsonArray();
    return a.asList().stream().map(JsonElement::getAsJsonObject);
  }

  private static long hex64(String s) {
    return Long.parseUnsignedLong(s, 16);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("selftest")
  void everyIntermediateNumberOfTheSelftestMatches(JsonObject t) throws Exception {
    String name = t.get("name").getAsString();
    long seed = t.get("seed").getAsLong();
    long[] shape = Configs.GSON.fromJson(t.get("shape"), long[].class);

    assertEquals(
        hex64(t.get("fnv1a64").getAsString()), Trw1.fnv1a64(name.getBytes("UTF-8")), "fnv1a64");
    long state0 = Trw1.initialState(seed, name);
    assertEquals(hex64(t.get("state0").getAsString()), state0, "state0");
    JsonArray outs = t.getAsJsonArray("first2_splitmix64_out");
    for (int k = 0; k < 2; k++)
      assertEquals(hex64(outs.get(k).getAsString()), Trw1.output(state0, k), "out " + k);

    Trw1.Role role = Trw1.role(name, shape);
    assertEquals(t.get("role").getAsString(), role.kind());
    assertEquals(
        Double.doubleToLongBits(Double.parseDouble(t.get("spread_hex").getAsString())),
        Double.doubleToLongBits(role.spread()),
        "spread bits");
    JsonArray values = t.getAsJsonArray("first4_value_f64_hex");
    JsonArray bf16 = t.getAsJsonArray("first4_bf16_hex");
    Trw1.Stream s = new Trw1.Stream(seed, name, shape, List.of());
    for (int k = 0; k < 4; k++) {
      assertEquals(
          Double.doubleToLongBits(Double.parseDouble(values.get(k).getAsString())),
          Double.doubleToLongBits(Trw1.value(state0, k, role)),
          "value " + k);
      assertEquals(
          Integer.parseInt(bf16.get(k).getAsString(), 16),
          Bf16.fromFloat(s.floatAt(k)) & 0xffff,
          "bf16 " + k);
    }

    long n = 1;
    for (long d : shape) n *= d;
    ByteBuffer buf = ByteBuffer.allocate((int) n * 2).order(ByteOrder.LITTLE_ENDIAN);
    s.fillBf16(buf.asShortBuffer(), 0);
    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(buf.array()));
    assertEquals(t.get("sha256_bf16_le").getAsString(), sha, "sha256 of the whole tensor");
  }
}
