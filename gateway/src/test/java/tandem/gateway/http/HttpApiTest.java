package tandem.gateway.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpServer;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
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
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.error.Rejection;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
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
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatServiceGrpc;

/**
 * The HTTP front door over raw HTTP, with scripted backends: SSE framing and {@code [DONE]}, the
 * boxes extension, one-shot answers, OpenAI error objects and their statuses, the image-URL policy,
 * stop strings, and a client that hangs up mid-stream (its decoder call is cancelled).
 */
class HttpApiTest extends InProcessTest {
  static final String MODEL = "vlm-tiny";
  static final String ANSWER =
      "<think>\n\n"
          + "</think>\n\n"
          + "图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>。<|im_end|>";
  static final String SHOWN = "图中有一个苹果<box>{\"label\":\"苹果\",\"bbox\":[100,250,500,1000]}</box>。";
  static final String PNG_URI =
      "data:image/png;base64," + Base64.getEncoder().encodeToString("png bytes".getBytes());

  final QwenTokenizer tok = SharedTokenizer.get();
  final HttpClient http = HttpClient.newHttpClient();
  final List<AutoCloseable> closers = new ArrayList<>();
  FakeBackends.Vision vision;
  FakeBackends.Decoder decoder;
  FrontDoors doors;
  String grpcName;
  boolean visionHangs; // start's vision-svc answers nothing until cancelled

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closers) c.close();
  }

  FrontDoors start(Map<String, String> env, FakeBackends.Decoder d) throws Exception {
    return start(env, d, HttpSettings.onPort(0));
  }

  FrontDoors start(Map<String, String> env, FakeBackends.Decoder d, HttpSettings settings)
      throws Exception {
    vision = new FakeBackends.Vision(List.of(new int[] {0, 0}), visionHangs);
    decoder = d;
    String vn = serve(vision);
    String dn = serve(decoder);
    Env e = new Env(env);
    grpcName = InProcessServerBuilder.generateName();
    doors =
        FrontDoors.start(
            new GatewayModel(tok, 64, 151655),
            MODEL,
            Backends.of(channel(vn), "vision-svc", channel(dn), "decoder-svc"),
            limits(e),
            EdgeSecurity.fromEnv(e),
            ServerHost.inProcess(InProcessServerBuilder.forName(grpcName).directExecutor()),
            64 << 20,
            settings);
    closers.add(doors);
    return doors;
  }

  static GatewayLimits limits(Env e) {
    return GatewayLimits.from(GatewaySettings.resolve(e));
  }

  FakeBackends.Decoder answering(String answer) {
    return new FakeBackends.Decoder(tok.encodeReference(answer), 0, -1, false);
  }

  URI uri(String path) {
    return URI.create("http://127.0.0.1:" + doors.httpPort() + path);
  }

  HttpResponse<String> post(String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(uri(path))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .header("Content-Type", "application/json");
    if (headers.length > 0) b.headers(headers);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
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

  /**
   * The SSE events of a body: each "data: …" payload, in order; fails on any other line than data,
   * comment, blank.
   */
  static List<String> events(String body) {
    assertTrue(body.endsWith("\n\n"), "every event ends with a blank line");
    List<String> out = new ArrayList<>();
    for (String block : body.split("\n\n")) {
      if (block.startsWith(":")) continue; // keep-alive comment
      assertTrue(
          block.startsWith("data: ") && !block.contains("\n"), "one data line per event: " + block);
      out.add(block.substring(6));
    }
    return out;
  }

  static JsonObject json(String s) {
    return JsonParser.parseString(s).getAsJsonObject();
  }

  static JsonObject error(HttpResponse<String> r, int status) {
    assertEquals(status, r.statusCode(), r.body());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
    JsonObject e = json(r.body()).getAsJsonObject("error");
    assertNotNull(e, r.body());
    assertFalse(e.get("message").getAsString().isBlank());
    assertFalse(e.get("type").getAsString().isBlank());
    return e;
  }

  @Test
  void aStreamIsServerSentEventsEndingInDoneWithTheSameTextAsGrpc() throws Exception {
    start(Map.of(), answering(ANSWER));
    decoder.cachedPromptTokens = 7; // decoder-svc's prefix-cache reuse reaches both doors' usage
    HttpResponse<String> r =
        post("/v1/chat/completions", chat(true, "\"stream_options\":{\"include_usage\":true}"));
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(
        "text/event-stream; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
    List<String> ev = events(r.body());
    assertEquals("[DONE]", ev.get(ev.size() - 1));
    JsonObject first = json(ev.get(0));
    assertEquals("chat.completion.chunk", first.get("object").getAsString());
    assertEquals(
        "assistant",
        first
            .getAsJsonArray("choices")
            .get(0)
            .getAsJsonObject()
            .getAsJsonObject("delta")
            .get("role")
            .getAsString());
    StringBuilder text = new StringBuilder();
    String finish = null;
    JsonObject usage = null;
    JsonArray boxes = new JsonArray();
    String textAtBox = null;
    String id = first.get("id").getAsString();
    for (String e : ev.subList(0, ev.size() - 1)) {
      JsonObject c = json(e);
      assertEquals(id, c.get("id").getAsString(), "one id for the whole stream");
      assertEquals(MODEL, c.get("model").getAsString());
      JsonArray choices = c.getAsJsonArray("choices");
      if (choices.isEmpty()) {
        usage = c.getAsJsonObject("usage");
        continue;
      }
      JsonObject ch = choices.get(0).getAsJsonObject();
      JsonObject delta = ch.getAsJsonObject("delta");
      if (delta.has("content")) text.append(delta.get("content").getAsString());
      if (delta.has("tandem_boxes")) {
        boxes.addAll(delta.getAsJsonArray("tandem_boxes"));
        textAtBox = text.toString();
      }
      if (!ch.get("finish_reason").isJsonNull()) {
        finish = ch.get("finish_reason").getAsString();
        assertTrue(c.has("tandem_timings"), "the last chunk carries the stage timings");
        assertTrue(c.getAsJsonObject("tandem_timings").get("total_ms").getAsDouble() > 0);
      }
    }
    assertEquals(SHOWN, text.toString());
    assertEquals("stop", finish);
    assertNotNull(usage, "include_usage gives a usage chunk before [DONE]");
    int[] ids = tok.encodeReference(ANSWER);
    assertEquals(ids.length, usage.get("completion_tokens").getAsInt());
    assertEquals(
        usage.get("prompt_tokens").getAsInt() + ids.length, usage.get("total_tokens").getAsInt());
    assertEquals(7, usage.getAsJsonObject("prompt_tokens_details").get("cached_tokens").getAsInt());

    // the box rides on the chunk whose text closed it
    assertEquals(1, boxes.size());
    assertTrue(textAtBox.endsWith("</box>"), textAtBox);
    JsonObject b = boxes.get(0).getAsJsonObject();
    assertEquals("苹果", b.get("label").getAsString());
    assertEquals("[100.0,250.0,500.0,1000.0]", b.get("box_per_mille").toString());
    assertEquals(
        "[60.0,100.0,300.0,400.0]",
        b.get("box_pixels").toString()); // per-mille of the fake's 600x400
    assertEquals(0, b.get("image_index").getAsInt());

    // the same request over gRPC gives the same text and count
    var ch = InProcessChannelBuilder.forName(grpcName).directExecutor().build();
    closers.add(ch::shutdownNow);
    var it =
        ChatServiceGrpc.newBlockingStub(ch)
            .chat(
                ChatRequests.userWithImage(
                        tandem.proto.gateway.v1.ImagePart.newBuilder()
                            .setData(com.google.protobuf.ByteString.copyFromUtf8("png bytes")),
                        "检测图片中的苹果")
                    .build());
    StringBuilder grpcText = new StringBuilder();
    ChatChunk last = null;
    while (it.hasNext()) {
      last = it.next();
      if (last.hasDelta()) grpcText.append(last.getDelta());
    }
    assertEquals(grpcText.toString(), text.toString());
    assertEquals(
        last.getFinal().getUsage().getCompletionTokens(),
        usage.get("completion_tokens").getAsInt());
    assertEquals(
        last.getFinal().getUsage().getPromptTokens(), usage.get("prompt_tokens").getAsInt());
    assertEquals(7, last.getFinal().getUsage().getCachedPromptTokens());
    // and vision-svc got the image bytes from the data: URI
    assertEquals("png bytes", vision.last.get().getImages(0).getData().toStringUtf8());
  }

  @Test
  void withoutIncludeUsageThereIsNoUsageChunk() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    List<String> ev = events(post("/v1/chat/completions", chat(true, "")).body());
    for (String e : ev.subList(0, ev.size() - 1))
      assertFalse(json(e).getAsJsonArray("choices").isEmpty(), e);
    assertEquals("[DONE]", ev.get(ev.size() - 1));
  }

  @Test
  void aNonStreamingRequestGetsOneCompletionWithBoxesAndUsage() throws Exception {
    start(Map.of(), answering(ANSWER));
    HttpResponse<String> r =
        post("/v1/chat/completions", chat(false, "\"max_tokens\":50,\"temperature\":0"));
    assertEquals(200, r.statusCode(), r.body());
    JsonObject c = json(r.body());
    assertEquals("chat.completion", c.get("object").getAsString());
    JsonObject ch = c.getAsJsonArray("choices").get(0).getAsJsonObject();
    assertEquals("stop", ch.get("finish_reason").getAsString());
    assertEquals(SHOWN, ch.getAsJsonObject("message").get("content").getAsString());
    assertEquals(
        "苹果",
        ch.getAsJsonObject("message")
            .getAsJsonArray("tandem_boxes")
            .get(0)
            .getAsJsonObject()
            .get("label")
            .getAsString());
    assertEquals(
        tok.encodeReference(ANSWER).length,
        c.getAsJsonObject("usage").get("completion_tokens").getAsInt());
    // parameters reach decoder-svc as given, and only those
    var p = decoder.last.get().getParams();
    assertEquals(50, p.getMaxNewTokens());
    assertTrue(p.hasTemperature());
    assertFalse(p.hasTopP());
    assertFalse(p.hasMinNewTokens());
  }

  @Test
  void extraBodyFieldsAsVllmTakesThemReachTheDecoder() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    HttpResponse<String> r =
        post(
            "/v1/chat/completions",
            chat(
                false,
                "\"max_completion_tokens\":7,\"min_tokens\":2,\"top_k\":5,\"top_p\":0.5,\"repetition_penalty\":1.1,"
                    + "\"no_repeat_ngram_size\":3,\"seed\":42,\"n\":1"));
    assertEquals(200, r.statusCode(), r.body());
    var p = decoder.last.get().getParams();
    assertEquals(7, p.getMaxNewTokens());
    assertEquals(2, p.getMinNewTokens());
    assertEquals(5, p.getTopK());
    assertEquals(0.5f, p.getTopP());
    assertEquals(1.1f, p.getRepetitionPenalty());
    assertEquals(3, p.getNoRepeatNgramSize());
    assertEquals(42, p.getSeed());
  }

  @Test
  void aStopStringEndsTheAnswerAcrossTokensAndCancelsTheDecoder() throws Exception {
    // an endless, slow decoder: only the stop string can end this answer
    int[] ids = tok.encodeReference("one two three four five six seven eight ");
    start(Map.of(), new FakeBackends.Decoder(ids, 5, -1, true));
    HttpResponse<String> r =
        post("/v1/chat/completions", chat(false, "\"stop\":[\"zzz\", \"hree f\"]"));
    assertEquals(200, r.statusCode(), r.body());
    JsonObject ch = json(r.body()).getAsJsonArray("choices").get(0).getAsJsonObject();
    assertEquals("one two t", ch.getAsJsonObject("message").get("content").getAsString());
    assertEquals("stop", ch.get("finish_reason").getAsString());
    assertTrue(
        decoder.cancelled.await(5, TimeUnit.SECONDS),
        "the decoder call was cancelled at the stop string");
  }

  @Test
  void badRequestsGetOpenAiErrorObjectsWithTheRightStatus() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    assertEquals(
        "invalid_request_error",
        error(post("/v1/chat/completions", "{not json"), 400).get("type").getAsString());
    error(
        post("/v1/chat/completions", "{messages: []}"),
        400); // JSON, not JavaScript: keys are quoted
    error(post("/v1/chat/completions", chat(false, "") + " trailing"), 400);
    error(post("/v1/chat/completions", "[".repeat(100_000)), 400);
    assertTrue(
        error(post("/v1/chat/completions", chat(false, "\"n\":2")), 400)
            .get("message")
            .getAsString()
            .contains("n = 1"));
    assertTrue(
        error(post("/v1/chat/completions", chat(false, "\"tools\":[]")), 400)
            .get("message")
            .getAsString()
            .contains("unknown field 'tools'"));
    assertTrue(
        error(post("/v1/chat/completions", chat(false, "\"temperature\":\"hot\"")), 400)
            .get("message")
            .getAsString()
            .contains("temperature"));
    assertTrue(
        error(post("/v1/chat/completions", chat(false, "\"top_p\":2")), 400)
            .get("message")
            .getAsString()
            .contains("top_p"));
    assertTrue(
        error(post("/v1/chat/completions", chat(false, "\"max_tokens\":999999")), 400)
            .get("message")
            .getAsString()
            .contains(GatewaySettings.MAX_NEW_TOKENS.env()));
    // a streamed chat starts off the request's thread; its refusal is still the HTTP status
    assertTrue(
        error(post("/v1/chat/completions", chat(true, "\"max_tokens\":999999")), 400)
            .get("message")
            .getAsString()
            .contains(GatewaySettings.MAX_NEW_TOKENS.env()));
    assertTrue(
        error(
                post(
                    "/v1/chat/completions",
                    "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}"),
                400)
            .get("message")
            .getAsString()
            .contains("messages[0]"));
    assertTrue(
        error(post("/v1/chat/completions", "{\"messages\":[]}"), 400)
            .get("message")
            .getAsString()
            .contains("no messages"));
    JsonObject nf =
        error(
            post(
                "/v1/chat/completions",
                "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
            404);
    assertTrue(nf.get("message").getAsString().contains(MODEL), nf.toString());
    error(
        http.send(
            HttpRequest.newBuilder(uri("/v1/embeddings")).GET().build(),
            HttpResponse.BodyHandlers.ofString()),
        404);
    error(
        http.send(
            HttpRequest.newBuilder(uri("/v1/chat/completions")).GET().build(),
            HttpResponse.BodyHandlers.ofString()),
        405);
    assertEquals(null, decoder.last.get(), "no refused request reached decoder-svc");
  }

  @Test
  void httpImageUrlsAreRefusedByDefault() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    String body = chat(false, "").replace(PNG_URI, "http://169.254.169.254/latest/meta-data");
    JsonObject e = error(post("/v1/chat/completions", body), 400);
    assertTrue(
        e.get("message").getAsString().contains(GatewaySettings.HTTP_IMAGE_URL_HOSTS.env()),
        e.toString());
    assertEquals(null, vision.last.get());
  }

  /** A local image host serving "fetched png" at /cat.png, counting the fetches. */
  HttpServer imageServer(java.util.concurrent.atomic.AtomicInteger fetches) throws IOException {
    HttpServer images = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    images.createContext(
        "/cat.png",
        ex -> {
          fetches.incrementAndGet();
          byte[] b = "fetched png".getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(200, b.length);
          try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
          }
        });
    images.start();
    closers.add(() -> images.stop(0));
    return images;
  }

  @Test
  void anAllowedHostsImageUrlIsFetchedAndOthersStayRefused() throws Exception {
    HttpServer images = imageServer(new java.util.concurrent.atomic.AtomicInteger());
    start(
        Map.of(),
        answering("hi<|im_end|>"),
        HttpSettings.onPort(0).withImageUrlHosts(List.of("127.0.0.1")));
    String url = "http://127.0.0.1:" + images.getAddress().getPort() + "/cat.png";
    HttpResponse<String> r = post("/v1/chat/completions", chat(false, "").replace(PNG_URI, url));
    assertEquals(200, r.statusCode(), r.body());
    assertEquals("fetched png", vision.last.get().getImages(0).getData().toStringUtf8());
    error(
        post(
            "/v1/chat/completions",
            chat(false, "").replace(PNG_URI, url.replace("127.0.0.1", "localhost"))),
        400);
  }

  @Test
  void noImageIsFetchedForARequestOverTheImageLimitOrFromAClientOverItsRate() throws Exception {
    java.util.concurrent.atomic.AtomicInteger fetches =
        new java.util.concurrent.atomic.AtomicInteger();
    HttpServer images = imageServer(fetches);
    start(
        Map.of(
            GatewaySettings.MAX_IMAGES.env(),
            "2",
            GatewaySettings.RATE_PER_SECOND.env(),
            "0.001",
            GatewaySettings.RATE_BURST.env(),
            "2"),
        answering("hi<|im_end|>"),
        HttpSettings.onPort(0).withImageUrlHosts(List.of("127.0.0.1")));
    String part =
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://127.0.0.1:"
            + images.getAddress().getPort()
            + "/cat.png\"}}";
    String three =
        "{\"model\":\""
            + MODEL
            + "\",\"messages\":[{\"role\":\"user\",\"content\":["
            + String.join(",", part, part, part)
            + ",{\"type\":\"text\",\"text\":\"?\"}]}]}";
    JsonObject e = error(post("/v1/chat/completions", three), 413);
    assertTrue(e.get("message").getAsString().contains("3 images"), e.toString());
    assertEquals(0, fetches.get(), "refused before any image was fetched");

    String url = "http://127.0.0.1:" + images.getAddress().getPort() + "/cat.png";
    String one = chat(false, "").replace(PNG_URI, url);
    assertEquals(200, post("/v1/chat/completions", one).statusCode());
    assertEquals(1, fetches.get());
    error(post("/v1/chat/completions", one), 429); // the burst of 2 is spent
    assertEquals(1, fetches.get(), "a client over its rate costs no image fetch");
  }

  @Test
  void anOversizedBodyIs413BeforeItIsParsed() throws Exception {
    start(Map.of(GatewaySettings.MAX_REQUEST_BYTES.env(), "4096"), answering("hi<|im_end|>"));
    String big = chat(false, "").replace("检测图片中的苹果", "x".repeat(10_000));
    JsonObject e = error(post("/v1/chat/completions", big), 413);
    assertTrue(
        e.get("message").getAsString().contains(GatewaySettings.MAX_REQUEST_BYTES.env()),
        e.toString());
    assertEquals(null, decoder.last.get());
  }

  @Test
  void withBearerTokensOnARequestWithoutOneIs401AndWithOneIsServed() throws Exception {
    start(Map.of(CommonSettings.AUTH_TOKENS.env(), "s3cret"), answering("hi<|im_end|>"));
    HttpResponse<String> r = post("/v1/chat/completions", chat(false, ""));
    assertEquals("authentication_error", error(r, 401).get("type").getAsString());
    assertEquals("Bearer", r.headers().firstValue("www-authenticate").orElse(""));
    error(post("/v1/chat/completions", chat(false, ""), "Authorization", "Bearer wrong"), 401);
    error(
        http.send(
            HttpRequest.newBuilder(uri("/v1/models")).GET().build(),
            HttpResponse.BodyHandlers.ofString()),
        401);
    assertEquals(null, decoder.last.get());
    assertEquals(
        200,
        post("/v1/chat/completions", chat(false, ""), "Authorization", "Bearer s3cret")
            .statusCode());
    // the playground's static page holds no secret and loads without a token
    assertEquals(
        200,
        http.send(
                HttpRequest.newBuilder(uri("/")).GET().build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
  }

  @Test
  void theSameRateLimitAppliesAsOnGrpcAnd429SaysWhichLimit() throws Exception {
    start(
        Map.of(
            GatewaySettings.RATE_PER_SECOND.env(), "0.001", GatewaySettings.RATE_BURST.env(), "1"),
        answering("hi<|im_end|>"));
    assertEquals(200, post("/v1/chat/completions", chat(false, "")).statusCode());
    HttpResponse<String> r = post("/v1/chat/completions", chat(false, ""));
    JsonObject e = error(r, 429);
    assertEquals("rate_limit_error", e.get("type").getAsString());
    assertTrue(e.get("message").getAsString().contains(GatewaySettings.RATE_PER_SECOND.env()));
    assertTrue(r.headers().firstValue("retry-after").isPresent());
  }

  @Test
  void aBackendThatIsDownIs503NamingIt() throws Exception {
    vision = new FakeBackends.Vision(List.of(new int[] {0, 0}), false);
    Env e = new Env(Map.of());
    ServerHost host =
        ServerHost.inProcess(InProcessServerBuilder.forName(InProcessServerBuilder.generateName()));
    doors =
        FrontDoors.start(
            new GatewayModel(tok, 64, 151655),
            MODEL,
            Backends.of(
                channel("nobody-v"),
                "vision-svc (test)",
                channel("nobody-d"),
                "decoder-svc (test)"),
            limits(e),
            EdgeSecurity.fromEnv(e),
            host,
            64 << 20,
            HttpSettings.onPort(0));
    closers.add(doors);
    JsonObject err = error(post("/v1/chat/completions", chat(true, "")), 503);
    assertTrue(err.get("message").getAsString().contains("vision-svc (test)"), err.toString());
  }

  /**
   * decoder-svc says RESOURCE_EXHAUSTED both for a prompt larger than its whole KV budget (never
   * fits: 413, no retry) and for a full queue (busy: 503 with Retry-After); the kind in its
   * trailers tells them apart.
   */
  @Test
  void aPromptTheDecodersKvBudgetCanNeverHoldIs413NotARetryLater() throws Exception {
    FakeBackends.Decoder d = answering("hi<|im_end|>");
    start(Map.of(), d);
    d.refuseWith =
        Rejection.tooLarge(
            "the prompt has 541 tokens but the decoder's whole KV cache budget holds 256 tokens");
    for (boolean stream : new boolean[] {false, true}) {
      HttpResponse<String> r = post("/v1/chat/completions", chat(stream, ""));
      JsonObject err = error(r, 413);
      assertEquals("invalid_request_error", err.get("type").getAsString());
      assertTrue(err.get("message").getAsString().contains("KV cache budget"), err.toString());
      assertTrue(r.headers().firstValue("Retry-After").isEmpty(), "no retry for " + err);
    }
    d.refuseWith = Rejection.overloaded("the decoder's queue is full (64)");
    HttpResponse<String> busy = post("/v1/chat/completions", chat(false, ""));
    error(busy, 503);
    assertTrue(busy.headers().firstValue("Retry-After").isPresent(), busy.headers().toString());
  }

  @Test
  void modelsListsTheServedModel() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    JsonObject l =
        json(
            http.send(
                    HttpRequest.newBuilder(uri("/v1/models")).GET().build(),
                    HttpResponse.BodyHandlers.ofString())
                .body());
    assertEquals("list", l.get("object").getAsString());
    assertEquals(MODEL, l.getAsJsonArray("data").get(0).getAsJsonObject().get("id").getAsString());
    assertEquals(
        200,
        http.send(
                HttpRequest.newBuilder(uri("/v1/models/" + MODEL)).GET().build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
  }

  @Test
  void thePlaygroundIsServedWithoutAnyOutsideReference() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    for (String page : List.of("/", "/app.js", "/style.css")) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(uri(page)).GET().build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), page);
      // works offline: no CDN, no remote script, font or style
      assertFalse(
          r.body().matches("(?s).*(src|href)=\"(https?:)?//.*"), page + " references another host");
      assertFalse(r.body().contains("import(\"http"), page);
    }
    assertEquals(
        404,
        http.send(
                HttpRequest.newBuilder(uri("/../pom.xml")).GET().build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode());
  }

  @Test
  void aClientThatHangsUpMidStreamCancelsTheDecoderCall() throws Exception {
    start(Map.of(), new FakeBackends.Decoder(tok.encodeReference("tick "), 20, -1, true));
    byte[] body = chat(true, "").getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket("127.0.0.1", doors.httpPort())) {
      RawHttp.postJson(s, "/v1/chat/completions", body);
      InputStream in = s.getInputStream();
      String seen = "";
      byte[] buf = new byte[4096];
      while (!seen.contains("tick")) {
        int n = in.read(buf);
        assertTrue(n > 0, "the stream ended before any text: " + seen);
        seen += new String(buf, 0, n, StandardCharsets.UTF_8);
      }
      assertTrue(seen.startsWith("HTTP/1.1 200"), seen);
      assertTrue(decoder.streaming.await(5, TimeUnit.SECONDS));
      assertEquals(1, doors.http().activeRequests());
    } // hang up
    assertTrue(
        decoder.cancelled.await(10, TimeUnit.SECONDS), "hanging up cancelled the decoder call");
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (doors.http().activeRequests() > 0 && System.nanoTime() < until) Thread.sleep(10);
    assertEquals(0, doors.http().activeRequests());
    assertEquals(0, doors.limiter().openStreams(), "the stream's admission was released");
  }

  @Test
  void anHttpChatIsOneTraceFromTheClientsTraceparentThroughTheDecoderAndIsInTheChatMetrics()
      throws Exception {
    var spans = io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter.create();
    var metrics = io.opentelemetry.sdk.testing.exporter.InMemoryMetricReader.create();
    var sdk =
        io.opentelemetry.sdk.OpenTelemetrySdk.builder()
            .setTracerProvider(
                io.opentelemetry.sdk.trace.SdkTracerProvider.builder()
                    .addSpanProcessor(
                        io.opentelemetry.sdk.trace.export.SimpleSpanProcessor.create(spans))
                    .build())
            .setMeterProvider(
                io.opentelemetry.sdk.metrics.SdkMeterProvider.builder()
                    .registerMetricReader(metrics)
                    .build())
            .setPropagators(
                io.opentelemetry.context.propagation.ContextPropagators.create(
                    io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator.getInstance()))
            .build();
    Telemetry tel = Telemetry.of(sdk);
    closers.add(tel);
    FakeBackends.Decoder d = answering("hi<|im_end|>");
    String dn = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(dn)
            .addService(io.grpc.ServerInterceptors.intercept(d, tel.serverInterceptor()))
            .build()
            .start());
    var dch = InProcessChannelBuilder.forName(dn).intercept(tel.clientInterceptor()).build();
    closers.add(dch::shutdownNow);
    Env e = new Env(Map.of());
    doors =
        FrontDoors.start(
            new GatewayModel(tok, 64, 151655),
            MODEL,
            Backends.of(channel("nobody"), "vision-svc", dch, "decoder-svc"),
            limits(e),
            EdgeSecurity.fromEnv(e),
            ServerHost.inProcess(
                    InProcessServerBuilder.forName(InProcessServerBuilder.generateName()))
                .withTelemetry(tel),
            64 << 20,
            HttpSettings.onPort(0));
    closers.add(0, doors);
    String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    HttpResponse<String> r =
        post(
            "/v1/chat/completions",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "traceparent",
            "00-" + traceId + "-00f067aa0ba902b7-01");
    assertEquals(200, r.statusCode(), r.body());
    assertEquals(traceId, json(r.body()).get("tandem_trace_id").getAsString());
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    List<String> names = List.of();
    while (System.nanoTime() < until) {
      names =
          spans.getFinishedSpanItems().stream()
              .filter(sp -> sp.getTraceId().equals(traceId))
              .map(sp -> sp.getName())
              .toList();
      if (names.contains("POST /v1/chat/completions")
          && names.contains("tandem.decoder.v1.DecoderService/Generate")
          && names.contains("chat")) break;
      Thread.sleep(20);
    }
    assertTrue(names.contains("POST /v1/chat/completions"), names.toString());
    assertTrue(names.contains("chat"), names.toString());
    assertTrue(
        names.contains("tandem.decoder.v1.DecoderService/Generate"),
        "decoder-svc's span is in the trace: " + names);
    var collected = metrics.collectAllMetrics().stream().map(m -> m.getName()).toList();
    assertTrue(collected.contains("gen_ai.server.request.duration"), collected.toString());
    assertTrue(collected.contains("http.server.request.duration"), collected.toString());
  }

  @Test
  void bothDoorsShareOneLimiterSoAnHttpStreamCountsAgainstTheGlobalCapOfGrpc() throws Exception {
    start(
        Map.of(GatewaySettings.MAX_CONCURRENT_STREAMS.env(), "1"),
        new FakeBackends.Decoder(tok.encodeReference("tick "), 20, -1, true));
    HttpRequest req =
        HttpRequest.newBuilder(uri("/v1/chat/completions"))
            .POST(HttpRequest.BodyPublishers.ofString(chat(true, "")))
            .build();
    var pending = http.sendAsync(req, HttpResponse.BodyHandlers.ofInputStream());
    HttpResponse<InputStream> open = pending.get(10, TimeUnit.SECONDS);
    assertEquals(200, open.statusCode());
    assertTrue(decoder.streaming.await(5, TimeUnit.SECONDS));
    // the one stream the gateway allows is the HTTP one: gRPC is refused, naming the limit
    var ch = InProcessChannelBuilder.forName(grpcName).directExecutor().build();
    closers.add(ch::shutdownNow);
    var e =
        org.junit.jupiter.api.Assertions.assertThrows(
            io.grpc.StatusRuntimeException.class,
            () ->
                ChatServiceGrpc.newBlockingStub(ch)
                    .chat(ChatRequests.user("hi").build())
                    .hasNext());
    assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains(GatewaySettings.MAX_CONCURRENT_STREAMS.env()));
    // and another HTTP request gets 503 for the same reason
    JsonObject err = error(post("/v1/chat/completions", chat(true, "")), 503);
    assertTrue(
        err.get("message").getAsString().contains(GatewaySettings.MAX_CONCURRENT_STREAMS.env()),
        err.toString());
    open.body().close(); // hang up: the slot is free again
    assertTrue(decoder.cancelled.await(10, TimeUnit.SECONDS));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (doors.limiter().openStreams() > 0 && System.nanoTime() < until) Thread.sleep(10);
    assertEquals(0, doors.limiter().openStreams());
  }

  /**
   * A JSON number with a huge exponent is valid JSON; in an integer field it is a client mistake
   * (400, invalid_request_error), as "max_tokens": 1e10 already is. gson's getAsBigDecimal throws
   * NumberFormatException for it (past its scale limit), which once became a 500.
   */
  @Test
  void anIntegerFieldWithAHugeExponentIs400NotAServerError() throws Exception {
    start(Map.of(), answering("hi<|im_end|>"));
    for (String field : List.of("max_tokens", "top_k", "min_tokens", "n")) {
      HttpResponse<String> r =
          post("/v1/chat/completions", chat(false, "\"" + field + "\":1e20000"));
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
    visionHangs = true;
    start(Map.of(), answering("hi<|im_end|>"), new HttpSettings(0, List.of(), 10, 20 << 20, 1));
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
    visionHangs = true;
    start(Map.of(), answering("hi<|im_end|>"), new HttpSettings(0, List.of(), 10, 20 << 20, 1));
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
