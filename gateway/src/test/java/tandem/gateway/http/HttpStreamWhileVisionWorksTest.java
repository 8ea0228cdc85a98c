package tandem.gateway.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.config.Env;
import tandem.common.grpc.ServerHost;
import tandem.common.testing.RawHttp;
import tandem.gateway.FrontDoors;
import tandem.gateway.backend.Backends;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.grpc.FakeBackends;
import tandem.gateway.grpc.InProcessTest;
import tandem.gateway.limits.EdgeSecurity;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.pipeline.GatewayModel;
import tandem.gateway.testing.SharedTokenizer;
import tandem.gateway.tokenize.QwenTokenizer;

class HttpStreamWhileVisionWorksTest extends InProcessTest {
  static final String MODEL = "vlm-tiny";
  static final String PNG_URI =
      "data:image/png;base64," + Base64.getEncoder().encodeToString("png bytes".getBytes());

  final QwenTokenizer tok = SharedTokenizer.get();
  final HttpClient http = HttpClient.newHttpClient();
  final List<AutoCloseable> closers = new ArrayList<>();
  FakeBackends.Vision vision;
  FakeBackends.Decoder decoder;
  FrontDoors doors;

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closers) c.close();
  }

  void start(boolean visionHangs, int keepAliveSeconds) throws Exception {
    vision = new FakeBackends.Vision(List.of(new int[] {0, 0}), visionHangs);
    decoder = new FakeBackends.Decoder(tok.encodeReference("hi<|im_end|>"), 0, -1, false);
    String vn = serve(vision);
    String dn = serve(decoder);
    Env e = new Env(Map.of());
    doors =
        FrontDoors.start(
            new GatewayModel(tok, 64, 151655),
            MODEL,
            Backends.of(channel(vn), "vision-svc", channel(dn), "decoder-svc"),
            GatewayLimits.from(GatewaySettings.resolve(e)),
            EdgeSecurity.fromEnv(e),
            ServerHost.inProcess(
                InProcessServerBuilder.forName(InProcessServerBuilder.generateName())
                    .directExecutor()),
            64 << 20,
            new HttpSettings(0, List.of(), 10, 20 << 20, keepAliveSeconds));
    closers.add(doors);
  }

  static String chat(boolean stream, String extra) {
    return "{\"model\":\""
        + MODEL
        + "\",\"stream\":"
        + stream
        + (extra.isEmpty() ? "" : "," + extra)
        + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\""
        + PNG_URI
        + "\"}},{\"type\":\"text\",\"text\":\"检测图片中的苹果\"}]}]}";
  }

  HttpResponse<String> post(String body) throws Exception {
    return http.send(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + doors.httpPort() + "/v1/chat/completions"))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .header("Content-Type", "application/json")
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /**
   * A JSON number with a huge exponent is valid JSON; in an integer field it is a client mistake
   * (400, invalid_request_error), as "max_tokens": 1e10 already is. gson's getAsBigDecimal throws
   * NumberFormatException for it (past its scale limit), which once became a 500.
   */
  @Test
  void anIntegerFieldWithAHugeExponentIs400NotAServerError() throws Exception {
    start(false, 2);
    for (String field : List.of("max_tokens", "top_k", "min_tokens", "n")) {
      HttpResponse<String> r = post(chat(false, "\"" + field + "\":1e20000"));
      assertEquals(400, r.statusCode(), field + ": " + r.body());
      assertEquals(
          "invalid_request_error",
          JsonParser.parseString(r.body())
              .getAsJsonObject()
              .getAsJsonObject("error")
              .get("type")
              .getAsString());
    }
  }

  /** Reads from the socket until {@code marker} shows up or {@code seconds} pass. */
  static String readUntil(Socket s, String marker, int seconds) throws Exception {
    s.setSoTimeout(200);
    InputStream in = s.getInputStream();
    StringBuilder seen = new StringBuilder();
    byte[] buf = new byte[4096];
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < end && seen.indexOf(marker) < 0) {
      try {
        int n = in.read(buf);
        if (n < 0) break;
        seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
      } catch (SocketTimeoutException e) {
        // keep waiting
      }
    }
    return seen.toString();
  }

  /**
   * docs/http-api.md: "While a stream waits (vision, prefill), the gateway sends an SSE comment `:
   * keep-alive` every TANDEM_HTTP_KEEPALIVE_SECONDS". The vision call runs inside pipeline.chat;
   * when that ran on the request's thread, nothing was written while vision-svc worked (a proxy's
   * idle timeout could cut the stream).
   */
  @Test
  void aStreamWaitingForVisionGetsKeepAliveComments() throws Exception {
    start(true, 1);
    try (Socket s = new Socket("127.0.0.1", doors.httpPort())) {
      RawHttp.postJson(s, "/v1/chat/completions", chat(true, "").getBytes(StandardCharsets.UTF_8));
      String seen = readUntil(s, ": keep-alive", 5);
      assertTrue(
          seen.contains(": keep-alive"),
          "no keep-alive within 5 s (5 keep-alive periods) while vision-svc works; got: '"
              + seen
              + "'");
    }
  }

  /**
   * The class comment of HttpFrontDoor: "a client that went away is noticed by a failed write even
   * before the first token, and its chat is cancelled". That holds while vision-svc works too: the
   * vision call is cancelled, not left to run until the backend deadline (900 s by default) holding
   * the client's stream slot.
   */
  @Test
  void aStreamingClientThatHangsUpDuringVisionCancelsTheVisionCall() throws Exception {
    start(true, 1);
    try (Socket s = new Socket("127.0.0.1", doors.httpPort())) {
      RawHttp.postJson(s, "/v1/chat/completions", chat(true, "").getBytes(StandardCharsets.UTF_8));
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (vision.last.get() == null && System.nanoTime() < until) Thread.sleep(10);
      assertTrue(vision.last.get() != null, "the request reached vision-svc");
    } // hang up
    assertTrue(
        vision.cancelled.await(10, TimeUnit.SECONDS),
        "10 s (10 keep-alive periods) after the client hung up the vision call is still running");
  }
}
