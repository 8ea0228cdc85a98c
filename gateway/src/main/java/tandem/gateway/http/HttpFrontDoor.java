package tandem.gateway.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.error.Rejection;
import tandem.common.security.BearerTokenAuth;
import tandem.common.telemetry.Telemetry;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.limits.ClientLimiter;
import tandem.gateway.limits.InputLimits;
import tandem.gateway.pipeline.CallScope;
import tandem.gateway.pipeline.ChatEvent;
import tandem.gateway.pipeline.ChatPipeline;
import tandem.gateway.pipeline.ChatSink;
import tandem.gateway.pipeline.FinishReason;

/**
 * The HTTP front door of the {@link ChatPipeline}: OpenAI's {@code POST /v1/chat/completions}
 * (server-sent events or one JSON answer), {@code GET /v1/models}, and the web playground's static
 * files at {@code /}. Served by the JDK's {@code com.sun.net.httpserver} (docs/http-api.md says
 * why). The same bearer tokens, per-client limits ({@link ClientLimiter}), tracing and GenAI
 * metrics apply as for gRPC {@code Chat}.
 *
 * <p>A stream is written by the request's own thread from a queue of answer events; while it waits
 * it sends an SSE comment every few seconds, so a client that went away is noticed by a failed
 * write even before the first token, and its chat is cancelled: the decoder call ends and frees its
 * sequence.
 */
public final class HttpFrontDoor implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HttpFrontDoor.class);
  private static final String PLAYGROUND = "/tandem/gateway/playground/";
  private static final AttributeKey<String> METHOD = AttributeKey.stringKey("http.request.method");
  private static final AttributeKey<String> ROUTE = AttributeKey.stringKey("http.route");
  private static final AttributeKey<Long> STATUS =
      AttributeKey.longKey("http.response.status_code");

  private final ChatPipeline pipeline;
  private final String modelName;
  private final BearerTokenAuth tokens;
  private final ClientLimiter limiter;
  private final HttpSettings settings;
  private final ImageFetcher fetcher;
  private final Telemetry telemetry;
  private final Tracer tracer;
  private final DoubleHistogram duration;
  private final HttpServer server;
  private final ExecutorService executor;
  // starts streamed chats (checks, tokenization, the vision call) off the request's thread; at most
  // one a request thread, so bounded by the executor's size
  private final ExecutorService starters;
  private final AtomicInteger active = new AtomicInteger();
  private final long created = System.currentTimeMillis() / 1000;
  private volatile boolean draining;

  private HttpFrontDoor(
      ChatPipeline pipeline,
      String modelName,
      BearerTokenAuth tokens,
      ClientLimiter limiter,
      HttpSettings settings,
      Telemetry telemetry)
      throws IOException {
    this.pipeline = pipeline;
    this.modelName = modelName;
    this.tokens = tokens;
    this.limiter = limiter;
    this.settings = settings;
    this.fetcher = new ImageFetcher(settings);
    this.telemetry = telemetry;
    this.tracer = telemetry.tracer("tandem.gateway.http");
    this.duration =
        telemetry
            .meter("tandem.gateway.http")
            .histogramBuilder("http.server.request.duration")
            .setUnit("s")
            .setDescription("HTTP requests of the gateway's OpenAI-compatible API and playground")
            .build();
    this.server = HttpServer.create(new InetSocketAddress(settings.port()), 128);
    int streams = pipeline.limits().maxConcurrentStreams();
    // a streaming request holds its thread until the answer ends: enough threads for every admitted
    // stream, plus
    // some for refusals and static files
    int threads = streams > 0 ? streams + 16 : 256;
    AtomicInteger n = new AtomicInteger();
    ThreadFactory tf =
        r -> {
          Thread t = new Thread(r, "gateway-http-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        };
    this.executor = Executors.newFixedThreadPool(threads, tf);
    AtomicInteger m = new AtomicInteger();
    this.starters =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "gateway-http-start-" + m.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
  }

  /**
   * Starts serving on {@code settings.port()}.
   *
   * @param tokens the bearer-token check of the gRPC port, or null when auth is off
   * @param limiter the gRPC port's limiter: one budget per client over both front doors
   */
  public static HttpFrontDoor start(
      ChatPipeline pipeline,
      String modelName,
      BearerTokenAuth tokens,
      ClientLimiter limiter,
      HttpSettings settings,
      Telemetry telemetry)
      throws IOException {
    HttpFrontDoor d = new HttpFrontDoor(pipeline, modelName, tokens, limiter, settings, telemetry);
    d.server.start();
    return d;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /** Requests being served now (streams included). */
  public int activeRequests() {
    return active.get();
  }

  /** New requests get 503; those in flight may finish for {@code grace}, then the server stops. */
  public void close(Duration grace) {
    draining = true;
    long end = System.nanoTime() + grace.toNanos();
    while (active.get() > 0 && System.nanoTime() < end) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    server.stop(0);
    executor.shutdownNow();
    starters.shutdownNow();
  }

  @Override
  public void close() {
    close(Duration.ZERO);
  }

  // ---- routing

  private static final TextMapGetter<HttpExchange> HEADERS =
      new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(HttpExchange ex) {
          return ex.getRequestHeaders().keySet();
        }

        @Override
        public String get(HttpExchange ex, String key) {
          return ex == null ? null : ex.getRequestHeaders().getFirst(key);
        }
      };

  private void handle(HttpExchange ex) {
    long t0 = System.nanoTime();
    active.incrementAndGet();
    String path = ex.getRequestURI().getPath();
    String method = ex.getRequestMethod().toUpperCase(Locale.ROOT);
    String route = path.startsWith("/v1/") ? path : "/";
    Context parent =
        telemetry
            .otel()
            .getPropagators()
            .getTextMapPropagator()
            .extract(Context.current(), ex, HEADERS);
    Span span =
        tracer
            .spanBuilder(method + " " + route)
            .setSpanKind(SpanKind.SERVER)
            .setParent(parent)
            .setAttribute(METHOD, method)
            .setAttribute(ROUTE, route)
            .startSpan();
    int[] status = {0};
    try (Scope ignored = span.makeCurrent()) {
      status[0] = route(ex, method, path);
    } catch (IOException e) {
      status[0] = 499; // the client went away; nothing more can be written
    } catch (RuntimeException | Error e) {
      LOG.warn("HTTP {} {} failed", method, path, e);
      status[0] = sendQuietly(ex, new Rejection(Rejection.Kind.INTERNAL, "gateway: " + e));
    } finally {
      span.setAttribute(STATUS, (long) status[0]);
      if (status[0] >= 500) span.setStatus(StatusCode.ERROR);
      span.end();
      duration.record(
          (System.nanoTime() - t0) / 1e9,
          Attributes.of(METHOD, method, ROUTE, route, STATUS, (long) status[0]));
      ex.close();
      active.decrementAndGet();
    }
  }

  /** Returns the status sent. */
  private int route(HttpExchange ex, String method, String path) throws IOException {
    if (draining) {
      return send(
          ex, Rejection.unavailable("the gateway is shutting down; retry on another replica"));
    }
    if (path.equals("/v1/chat/completions")) {
      if (!method.equals("POST")) return methodNotAllowed(ex, "POST");
      return chatCompletions(ex);
    }
    if (path.equals("/v1/models") || path.startsWith("/v1/models/")) {
      if (!method.equals("GET")) return methodNotAllowed(ex, "GET");
      Rejection auth = authenticate(ex);
      if (auth != null) return send(ex, auth);
      return models(ex, path);
    }
    if (path.startsWith("/v1/")) {
      return send(
          ex,
          new Rejection(
              Rejection.Kind.NOT_FOUND,
              "no such endpoint: "
                  + path
                  + "; this server has POST /v1/chat/completions and GET /v1/models"));
    }
    if (!method.equals("GET") && !method.equals("HEAD")) return methodNotAllowed(ex, "GET");
    return staticFile(ex, path);
  }

  private int methodNotAllowed(HttpExchange ex, String allowed) throws IOException {
    ex.getResponseHeaders().set("Allow", allowed);
    JsonObject body =
        OpenAiErrors.body(
            Rejection.invalid(
                ex.getRequestMethod()
                    + " is not allowed on "
                    + ex.getRequestURI().getPath()
                    + "; use "
                    + allowed));
    return json(ex, 405, body);
  }

  private Rejection authenticate(HttpExchange ex) {
    if (tokens == null) return null;
    String why = tokens.refusal(ex.getRequestHeaders().getFirst("Authorization"));
    if (why == null) return null;
    ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
    return new Rejection(Rejection.Kind.UNAUTHENTICATED, why);
  }

  // ---- GET /v1/models

  private int models(HttpExchange ex, String path) throws IOException {
    JsonObject m = new JsonObject();
    m.addProperty("id", modelName);
    m.addProperty("object", "model");
    m.addProperty("created", created);
    m.addProperty("owned_by", "tandem");
    if (path.startsWith("/v1/models/")) {
      String id = path.substring("/v1/models/".length());
      if (!id.equals(modelName)) {
        return send(
            ex,
            new Rejection(
                Rejection.Kind.NOT_FOUND,
                "the model '" + id + "' does not exist; this server serves '" + modelName + "'"));
      }
      return json(ex, 200, m);
    }
    JsonObject list = new JsonObject();
    list.addProperty("object", "list");
    JsonArray data = new JsonArray();
    data.add(m);
    list.add("data", data);
    return json(ex, 200, list);
  }

  // ---- POST /v1/chat/completions

  private int chatCompletions(HttpExchange ex) throws IOException {
    Rejection auth = authenticate(ex);
    if (auth != null) return send(ex, auth);
    // admitted before the body is read, as the gRPC door's interceptor admits before the handler:
    // a client over its rate or stream limit costs no body, no image decode and no image fetch
    InetSocketAddress peer = ex.getRemoteAddress();
    String key =
        ClientLimiter.clientKey(
            ex.getRequestHeaders().getFirst("Authorization"), tokens != null, peer);
    String imageScope = key.startsWith("token:") ? key : "conn:" + peer;
    Runnable release;
    try {
      release = limiter.admit(key);
    } catch (Rejection r) {
      return send(ex, r);
    }
    try {
      ChatCompletionRequest req;
      try {
        req = request(ex);
      } catch (Rejection r) {
        return send(ex, r);
      }
      return answer(ex, req, CallScope.of(imageScope));
    } finally {
      release.run();
    }
  }

  /**
   * The body as a request: read within the request-byte limit, parsed, the image count checked
   * before any image is decoded or fetched.
   */
  private ChatCompletionRequest request(HttpExchange ex) throws IOException {
    byte[] body = readBody(ex, pipeline.limits().input().maxRequestBytes());
    JsonElement json;
    try {
      json = strictJson(new String(body, StandardCharsets.UTF_8));
    } catch (JsonParseException e) {
      throw Rejection.invalid("the body is not valid JSON: " + e.getMessage());
    } catch (StackOverflowError e) {
      throw Rejection.invalid("the body's JSON nests too deeply");
    }
    pipeline.limits().checkImages(ChatCompletionRequest.countImages(json));
    return ChatCompletionRequest.parse(
        json, modelName, body.length, settings.maxImageBytes(), fetcher);
  }

  private static final com.google.gson.TypeAdapter<JsonElement> JSON =
      new com.google.gson.Gson().getAdapter(JsonElement.class);

  /**
   * RFC 8259 JSON, nothing before or after it (gson's default parser would accept unquoted keys,
   * NaN, comments).
   */
  static JsonElement strictJson(String text) {
    try (com.google.gson.stream.JsonReader r =
        new com.google.gson.stream.JsonReader(new java.io.StringReader(text))) {
      r.setStrictness(com.google.gson.Strictness.STRICT);
      JsonElement e = JSON.read(r);
      if (r.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) {
        throw new JsonParseException("text after the JSON value");
      }
      return e;
    } catch (IOException | IllegalStateException | NumberFormatException e) {
      throw new JsonParseException(e.getMessage(), e);
    }
  }

  /**
   * Reads at most {@code max} bytes; a larger body (by Content-Length or as it arrives) is
   * TOO_LARGE.
   */
  private static byte[] readBody(HttpExchange ex, int max) throws IOException {
    String cl = ex.getRequestHeaders().getFirst("Content-Length");
    String limit = InputLimits.limit(max, GatewaySettings.MAX_REQUEST_BYTES.env());
    if (cl != null) {
      long n;
      try {
        n = Long.parseLong(cl.strip());
      } catch (NumberFormatException e) {
        throw Rejection.invalid("Content-Length '" + cl + "' is not a number");
      }
      if (n > max) {
        throw Rejection.tooLarge(
            "the request body is " + n + " bytes; " + limit + " (images count base64-encoded)");
      }
    }
    try (InputStream s = ex.getRequestBody()) {
      byte[] b = s.readNBytes(max + 1);
      if (b.length > max) {
        throw Rejection.tooLarge(
            "the request body is more than "
                + max
                + " bytes; "
                + limit
                + " (images count base64-encoded)");
      }
      return b;
    }
  }

  /** Answer events for the request's thread to write. */
  private static final class Queue implements ChatSink {
    final BlockingQueue<Object> q = new LinkedBlockingQueue<>();

    @Override
    public void event(ChatEvent e) {
      q.add(e);
    }

    @Override
    public void fail(Rejection r) {
      q.add(r);
    }
  }

  private int answer(HttpExchange ex, ChatCompletionRequest req, CallScope scope)
      throws IOException {
    Queue sink = new Queue();
    if (req.stream()) {
      // The vision call runs inside pipeline.chat and can take minutes: start the chat on
      // another thread, so that this one sends keep-alives meanwhile and learns from a failed
      // write that the client left (scope.cancel() below then cancels the vision call). A
      // refusal still reaches the queue before anything was written: it becomes the status.
      starters.execute(Context.current().wrap(() -> start(req, scope, sink)));
    } else {
      try {
        pipeline.chat(req.input(), scope, sink);
      } catch (Rejection r) {
        return send(ex, r);
      }
    }
    String id = req.input().requestId();
    try {
      return req.stream() ? stream(ex, req, id, sink, scope) : whole(ex, id, sink);
    } catch (IOException e) {
      scope.cancel(); // the client went away: stop the generation, free the decoder's sequence
      throw e;
    } catch (InterruptedException e) {
      scope.cancel();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } finally {
      // whatever ended this request (an answer, a refusal, a bug), nothing may keep generating
      // for it; after a finished answer this is a no-op
      scope.cancel();
    }
  }

  private void start(ChatCompletionRequest req, CallScope scope, Queue sink) {
    try {
      pipeline.chat(req.input(), scope, sink);
    } catch (Rejection r) {
      sink.fail(r);
    } catch (RuntimeException | Error e) {
      LOG.warn("HTTP chat {} failed", req.input().requestId(), e);
      sink.fail(new Rejection(Rejection.Kind.INTERNAL, "gateway: " + e)); // never a silent hang
    }
  }

  private int whole(HttpExchange ex, String id, Queue sink)
      throws IOException, InterruptedException {
    StringBuilder text = new StringBuilder();
    JsonArray boxes = new JsonArray();
    while (true) {
      Object e = sink.q.take();
      if (e instanceof Rejection r) return send(ex, r);
      if (e instanceof ChatEvent.Delta d) {
        text.append(d.text());
        for (ChatEvent.BoxResult b : d.boxes()) boxes.add(OpenAiJson.box(b));
      } else if (e instanceof ChatEvent.Done done) {
        ChatEvent.ChatResult r = done.result();
        if (r.reason() == FinishReason.ERROR) {
          return send(ex, new Rejection(Rejection.Kind.UNAVAILABLE, r.error()));
        }
        return json(
            ex, 200, OpenAiJson.completion(id, created(), modelName, text.toString(), boxes, r));
      }
    }
  }

  private int stream(
      HttpExchange ex, ChatCompletionRequest req, String id, Queue sink, CallScope scope)
      throws IOException, InterruptedException {
    OutputStream out = null;
    long created = created();
    while (true) {
      Object e = sink.q.poll(settings.keepAliveSeconds(), TimeUnit.SECONDS);
      if (e == null) {
        // nothing yet: commit the stream and ping, which also finds out whether the client is still
        // there
        if (out == null) out = startStream(ex, id, created);
        write(out, ": keep-alive\n\n");
        continue;
      }
      if (e instanceof Rejection r) {
        if (out == null) return send(ex, r);
        write(out, "data: " + OpenAiErrors.body(r) + "\n\n");
        write(out, "data: [DONE]\n\n");
        return 200;
      }
      if (out == null) out = startStream(ex, id, created);
      if (e instanceof ChatEvent.Delta d) {
        write(
            out,
            "data: "
                + OpenAiJson.chunk(id, created, modelName, OpenAiJson.delta(d), null)
                + "\n\n");
      } else if (e instanceof ChatEvent.Done done) {
        ChatEvent.ChatResult r = done.result();
        if (r.reason() == FinishReason.ERROR) {
          write(
              out,
              "data: "
                  + OpenAiErrors.body(new Rejection(Rejection.Kind.UNAVAILABLE, r.error()))
                  + "\n\n");
        } else {
          JsonObject last =
              OpenAiJson.chunk(id, created, modelName, new JsonObject(), r.reason().label());
          OpenAiJson.extensions(last, r);
          write(out, "data: " + last + "\n\n");
          if (req.includeUsage()) {
            JsonObject u = OpenAiJson.chunk(id, created, modelName, null, null);
            u.add("usage", OpenAiJson.usage(r.usage()));
            write(out, "data: " + u + "\n\n");
          }
        }
        write(out, "data: [DONE]\n\n");
        return 200;
      }
    }
  }

  private OutputStream startStream(HttpExchange ex, String id, long created) throws IOException {
    ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
    ex.getResponseHeaders().set("Cache-Control", "no-cache");
    ex.getResponseHeaders()
        .set("X-Accel-Buffering", "no"); // nginx-style proxies: do not buffer the stream
    ex.sendResponseHeaders(200, 0); // chunked
    OutputStream out = ex.getResponseBody();
    JsonObject role = new JsonObject();
    role.addProperty("role", "assistant");
    role.addProperty("content", "");
    write(out, "data: " + OpenAiJson.chunk(id, created, modelName, role, null) + "\n\n");
    return out;
  }

  private static void write(OutputStream out, String s) throws IOException {
    out.write(s.getBytes(StandardCharsets.UTF_8));
    out.flush(); // each chunk leaves now: SSE is read as it arrives
  }

  private static long created() {
    return System.currentTimeMillis() / 1000;
  }

  // ---- static files of the playground

  private int staticFile(HttpExchange ex, String path) throws IOException {
    String name = path.equals("/") ? "index.html" : path.substring(1);
    if (!name.matches("[a-z0-9][a-z0-9._-]*") || name.contains("..")) {
      return send(ex, new Rejection(Rejection.Kind.NOT_FOUND, "no such page: " + path));
    }
    byte[] bytes;
    try (InputStream s = HttpFrontDoor.class.getResourceAsStream(PLAYGROUND + name)) {
      if (s == null)
        return send(ex, new Rejection(Rejection.Kind.NOT_FOUND, "no such page: " + path));
      bytes = s.readAllBytes();
    }
    String type =
        name.endsWith(".html")
            ? "text/html; charset=utf-8"
            : name.endsWith(".js")
                ? "text/javascript; charset=utf-8"
                : name.endsWith(".css")
                    ? "text/css; charset=utf-8"
                    : name.endsWith(".svg")
                        ? "image/svg+xml"
                        : name.endsWith(".png") ? "image/png" : "application/octet-stream";
    ex.getResponseHeaders().set("Content-Type", type);
    ex.getResponseHeaders().set("Cache-Control", "no-cache");
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    ex.getResponseHeaders()
        .set(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
                + " connect-src 'self'");
    if (ex.getRequestMethod().equalsIgnoreCase("HEAD")) {
      ex.sendResponseHeaders(200, -1);
      return 200;
    }
    ex.sendResponseHeaders(200, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
    return 200;
  }

  // ---- responses

  private static int send(HttpExchange ex, Rejection r) throws IOException {
    int status = OpenAiErrors.status(r.kind());
    if (r.kind() == Rejection.Kind.RATE_LIMITED || r.kind() == Rejection.Kind.OVERLOADED) {
      ex.getResponseHeaders().set("Retry-After", "1");
    }
    return json(ex, status, OpenAiErrors.body(r));
  }

  private static int sendQuietly(HttpExchange ex, Rejection r) {
    try {
      return send(ex, r);
    } catch (IOException | RuntimeException e) {
      return OpenAiErrors.status(r.kind()); // headers may already be out; nothing more to do
    }
  }

  private static int json(HttpExchange ex, int status, JsonElement body) throws IOException {
    byte[] b = body.toString().getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
    return status;
  }
}
