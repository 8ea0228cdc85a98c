package tandem.common.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (ephemeral port), with the Hub's URL scheme and
 * headers:
 *
 * <ul>
 *   <li>{@code GET /api/models/{repo}/revision/{rev}} → {@code {id, sha, siblings:[{rfilename}]}};
 *   <li>{@code HEAD|GET /{repo}/resolve/{rev}/{file}} → small files inline with {@code ETag} = git
 *       blob sha1; LFS files ({@code *.safetensors}, {@code *.bin}) as a 302 to {@code
 *       /cdn/{sha256}} with {@code X-Linked-Etag}, {@code X-Linked-Size}; always {@code
 *       X-Repo-Commit};
 *   <li>a renamed repository answers with a relative 307 to its new name;
 *   <li>{@code GET /cdn/{sha256}} honours {@code Range: bytes=N-} with 206.
 * </ul>
 *
 * Fault modes for tests: cut the connection mid-file once, stall it once, serve corrupted bytes,
 * require a bearer token. Every request is logged (method, path, Range, whether an Authorization
 * header came).
 */
public final class FakeHub implements AutoCloseable {
  /** One logged request. */
  public record Request(
      String method, String path, String range, String authorization, long millis) {}

  private record Repo(String commit, Map<String, byte[]> files) {}

  private final HttpServer server;
  private final HttpServer
      cdnServer; // another port, so another origin, as the real CDN is another host
  private final ExecutorService pool = Executors.newCachedThreadPool();
  private final Map<String, Repo> repos = new ConcurrentHashMap<>();
  private final Map<String, String> refs = new ConcurrentHashMap<>(); // "repo@rev" -> commit
  private final Map<String, String> renamed = new ConcurrentHashMap<>();
  private final Map<String, byte[]> cdn = new ConcurrentHashMap<>();
  private final Map<String, Long> cutOnce =
      new ConcurrentHashMap<>(); // sha256 -> bytes before the cut
  private final Map<String, Boolean> expireOnce =
      new ConcurrentHashMap<>(); // sha256 -> refuse the next CDN GET
  private final Map<String, Long> stallOnce =
      new ConcurrentHashMap<>(); // sha256 -> bytes before going silent
  private final Map<String, Integer> corrupt =
      new ConcurrentHashMap<>(); // sha256 -> downloads left to corrupt
  private final List<Request> log = Collections.synchronizedList(new ArrayList<>());
  private volatile String requiredToken;
  private volatile boolean mirrorEtags;
  private volatile long slowMillisPer64k; // CDN pacing, so concurrent clients really overlap

  public FakeHub() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    server.createContext("/", this::handle);
    server.setExecutor(pool);
    server.start();
    cdnServer = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    cdnServer.createContext("/", this::handle);
    cdnServer.setExecutor(pool);
    cdnServer.start();
  }

  private URI cdnEndpoint() {
    return URI.create("http://127.0.0.1:" + cdnServer.getAddress().getPort());
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  /** Adds a repository whose {@code main} points at {@code commit}. */
  public FakeHub addRepo(String repoId, String commit, Map<String, byte[]> files) {
    repos.put(repoId, new Repo(commit, new LinkedHashMap<>(files)));
    refs.put(repoId + "@main", commit);
    for (var e : files.entrySet())
      if (isLfs(e.getKey())) cdn.put(sha256(e.getValue()), e.getValue());
    return this;
  }

  /**
   * Requests for {@code oldId} get a relative 307 to {@code newId}, as the Hub does after a rename.
   */
  public FakeHub rename(String oldId, String newId) {
    renamed.put(oldId, newId);
    return this;
  }

  /** The CDN pauses this long after every 64 KiB it sends. */
  public FakeHub slowCdn(long millisPer64k) {
    slowMillisPer64k = millisPer64k;
    return this;
  }

  public FakeHub requireToken(String token) {
    requiredToken = token;
    return this;
  }

  /**
   * The next download of this file's bytes stops after {@code afterBytes} and the connection is
   * dropped.
   */
  public FakeHub cutOnce(byte[] content, long afterBytes) {
    cutOnce.put(sha256(content), afterBytes);
    return this;
  }

  /**
   * The next CDN request for this file is refused with 403, as S3 refuses an expired signed link.
   */
  public FakeHub expireOnce(byte[] content) {
    expireOnce.put(sha256(content), true);
    return this;
  }

  /**
   * The next download of this file's bytes sends {@code afterBytes}, then nothing for 10 s (a
   * stalled socket).
   */
  public FakeHub stallOnce(byte[] content, long afterBytes) {
    stallOnce.put(sha256(content), afterBytes);
    return this;
  }

  /**
   * Answers like a mirror whose ETags are its own (not content hashes) and that sends no
   * X-Linked-Etag; the repository API still lists each file's hash (blobs=true), as the Hub does.
   */
  public FakeHub mirrorEtags() {
    mirrorEtags = true;
    return this;
  }

  /** The next {@code times} downloads of this file's bytes have one byte flipped in the middle. */
  public FakeHub corrupt(byte[] content, int times) {
    corrupt.put(sha256(content), times);
    return this;
  }

  public List<Request> log() {
    synchronized (log) {
      return List.copyOf(log);
    }
  }

  public void clearLog() {
    log.clear();
  }

  @Override
  public void close() {
    server.stop(0);
    cdnServer.stop(0);
    pool.shutdownNow();
  }

  /**
   * A tiny repository with the shapes of a real one: configs, tokenizer, template, a ~1.5 MB LFS
   * weight file.
   */
  public static Map<String, byte[]> smallModelFiles(long seed) {
    Random rnd = new Random(seed);
    byte[] weights = new byte[1_500_000 + rnd.nextInt(1000)];
    rnd.nextBytes(weights);
    byte[] bin = new byte[4096];
    rnd.nextBytes(bin);
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(".gitattributes", utf8("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"));
    files.put("README.md", utf8("# tiny\n"));
    files.put("config.json", utf8("{\"model_type\": \"tiny\", \"seed\": " + seed + "}\n"));
    files.put("generation_config.json", utf8("{\"eos_token_id\": 2}\n"));
    files.put("tokenizer.json", utf8("{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}\n"));
    files.put("tokenizer_config.json", utf8("{\"eos_token\": \"<|im_end|>\"}\n"));
    files.put("chat_template.jinja", utf8("{% for m in messages %}{{ m.content }}{% endfor %}"));
    files.put("vision/preprocessor_config.json", utf8("{\"size\": {\"longest_edge\": 512}}\n"));
    files.put("model.safetensors", weights);
    files.put("pytorch_model.bin", bin);
    return files;
  }

  public static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  public static boolean isLfs(String file) {
    return file.endsWith(".safetensors") || file.endsWith(".bin");
  }

  public static String sha256(byte[] b) {
    return hex("SHA-256", b, null);
  }

  /**
   * Git's blob id: sha1 of "blob {size}\0" + content, which the Hub sends as the ETag of small
   * files.
   */
  public static String gitSha1(byte[] b) {
    return hex("SHA-1", b, "blob " + b.length + "\0");
  }

  public static String etagOf(String file, byte[] content) {
    return isLfs(file) ? sha256(content) : gitSha1(content);
  }

  private static String hex(String alg, byte[] b, String header) {
    try {
      MessageDigest md = MessageDigest.getInstance(alg);
      if (header != null) md.update(header.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(md.digest(b));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // handlers

  private static final Pattern API =
      Pattern.compile("/api/models/([^/]+/[^/]+|[^/]+)/revision/([^/]+)");
  private static final Pattern RESOLVE =
      Pattern.compile("/([^/]+/[^/]+|[^/]+)/resolve/([^/]+)/(.+)");
  private static final Pattern CDN = Pattern.compile("/cdn/([0-9a-f]{64})");
  private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String rawPath = ex.getRequestURI().getRawPath();
      String path = ex.getRequestURI().getPath();
      log.add(
          new Request(
              ex.getRequestMethod(),
              rawPath,
              ex.getRequestHeaders().getFirst("Range"),
              ex.getRequestHeaders().getFirst("Authorization"),
              System.currentTimeMillis()));
      Matcher m;
      if ((m = CDN.matcher(path)).matches()) {
        serveCdn(ex, m.group(1));
      } else if ((m = API.matcher(rawPath)).matches()) {
        if (!authorized(ex)) return;
        String id = m.group(1);
        if (renamed.containsKey(id)) {
          redirect(
              ex,
              307,
              rawPath.replaceFirst(
                  "/api/models/" + Pattern.quote(id) + "/",
                  "/api/models/" + renamed.get(id) + "/"));
          return;
        }
        Repo repo = repos.get(id);
        if (repo == null) {
          error(ex, 404, "RepoNotFound", "Repository not found");
          return;
        }
        String rev = URI.create("x:/" + m.group(2)).getPath().substring(1);
        String commit = commitOf(id, repo, rev);
        if (commit == null) {
          error(ex, 404, "RevisionNotFound", "Invalid rev id: " + rev);
          return;
        }
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("modelId", id);
        o.addProperty("sha", commit);
        o.addProperty("private", requiredToken != null);
        JsonArray siblings = new JsonArray();
        for (String f : repo.files().keySet()) {
          JsonObject s = new JsonObject();
          s.addProperty("rfilename", f);
          byte[] content = repo.files().get(f);
          if (isLfs(f)) {
            s.addProperty("blobId", gitSha1(utf8("pointer " + sha256(content))));
            JsonObject lfs = new JsonObject();
            lfs.addProperty("sha256", sha256(content));
            lfs.addProperty("size", content.length);
            s.add("lfs", lfs);
          } else {
            s.addProperty("blobId", gitSha1(content));
          }
          siblings.add(s);
        }
        o.add("siblings", siblings);
        byte[] body = utf8(o.toString());
        ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
      } else if ((m = RESOLVE.matcher(rawPath)).matches()) {
        if (!authorized(ex)) return;
        String id = m.group(1);
        if (renamed.containsKey(id)) {
          redirect(ex, 307, "/" + renamed.get(id) + "/resolve/" + m.group(2) + "/" + m.group(3));
          return;
        }
        Repo repo = repos.get(id);
        if (repo == null) {
          error(ex, 404, "RepoNotFound", "Repository not found");
          return;
        }
        String rev = URI.create("x:/" + m.group(2)).getPath().substring(1);
        String file = URI.create("x:/" + m.group(3)).getPath().substring(1);
        String commit = commitOf(id, repo, rev);
        if (commit == null) {
          error(ex, 404, "RevisionNotFound", "Invalid rev id: " + rev);
          return;
        }
        byte[] content = repo.files().get(file);
        if (content == null) {
          error(ex, 404, "EntryNotFound", "Entry not found");
          return;
        }
        var h = ex.getResponseHeaders();
        h.set("X-Repo-Commit", commit);
        if (mirrorEtags) {
          // a mirror's own validator: neither a sha256 nor a git sha1
          h.set(
              "ETag", "\"mirror-" + sha256(content).substring(0, 12) + "-" + content.length + "\"");
          if (isLfs(file)) {
            h.set("X-Linked-Size", Long.toString(content.length));
            redirect(ex, 302, cdnEndpoint() + "/cdn/" + sha256(content) + "?X-Amz-Signature=fake");
          } else {
            sendBytes(ex, content, null);
          }
        } else if (isLfs(file)) {
          String sha = sha256(content);
          h.set("X-Linked-Etag", "\"" + sha + "\"");
          h.set("X-Linked-Size", Long.toString(content.length));
          h.set("ETag", "\"" + gitSha1(utf8("pointer " + sha)) + "\"");
          redirect(ex, 302, cdnEndpoint() + "/cdn/" + sha + "?X-Amz-Signature=fake");
        } else {
          h.set("ETag", "\"" + gitSha1(content) + "\"");
          sendBytes(ex, content, null);
        }
      } else {
        error(ex, 404, null, "no route " + path);
      }
    }
  }

  private String commitOf(String id, Repo repo, String rev) {
    if (rev.equals(repo.commit())) return rev;
    return refs.get(id + "@" + rev);
  }

  private boolean authorized(HttpExchange ex) throws IOException {
    String need = requiredToken;
    if (need == null) return true;
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    if (auth == null) {
      error(
          ex,
          401,
          "RepoNotFound",
          "Access to this model is restricted. You must be authenticated to access it.");
      return false;
    }
    if (!auth.equals("Bearer " + need)) {
      error(ex, 401, null, "Invalid credentials in Authorization header");
      return false;
    }
    return true;
  }

  private void serveCdn(HttpExchange ex, String sha) throws IOException {
    byte[] content = cdn.get(sha);
    if (content == null) {
      error(ex, 404, null, "NoSuchKey");
      return;
    }
    if (ex.getRequestHeaders().getFirst("Authorization") != null) {
      // A real CDN rejects a request carrying both a signed URL and a bearer token.
      error(ex, 400, null, "Only one auth mechanism allowed");
      return;
    }
    Integer left = corrupt.computeIfPresent(sha, (k, v) -> v - 1);
    if (left != null) {
      if (left <= 0) corrupt.remove(sha);
      content = content.clone();
      content[content.length / 2] ^= 0x5a;
    }
    if (expireOnce.remove(sha) != null) {
      error(ex, 403, null, "Request has expired");
      return;
    }
    Long stallAfter = stallOnce.remove(sha);
    if (stallAfter != null) {
      ex.getResponseHeaders().set("Accept-Ranges", "bytes");
      ex.sendResponseHeaders(200, content.length);
      ex.getResponseBody().write(content, 0, (int) (long) stallAfter);
      ex.getResponseBody().flush();
      try {
        Thread.sleep(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      throw new IOException("FakeHub: stalled connection given up");
    }
    sendBytes(ex, content, cutOnce.remove(sha));
  }

  private void sendBytes(HttpExchange ex, byte[] content, Long cutAfter) throws IOException {
    long start = 0;
    String range = ex.getRequestHeaders().getFirst("Range");
    int code = 200;
    if (range != null) {
      Matcher r = RANGE.matcher(range);
      if (!r.matches()) {
        error(ex, 400, null, "bad Range " + range);
        return;
      }
      start = Long.parseLong(r.group(1));
      if (start >= content.length) {
        ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
        ex.sendResponseHeaders(416, -1);
        return;
      }
      code = 206;
      ex.getResponseHeaders()
          .set(
              "Content-Range",
              "bytes " + start + "-" + (content.length - 1) + "/" + content.length);
    }
    long len = content.length - start;
    ex.getResponseHeaders().set("Accept-Ranges", "bytes");
    if (ex.getRequestMethod().equals("HEAD")) {
      ex.getResponseHeaders().set("Content-Length", Long.toString(len));
      ex.sendResponseHeaders(code, -1);
      return;
    }
    ex.sendResponseHeaders(code, len == 0 ? -1 : len);
    OutputStream out = ex.getResponseBody();
    if (cutAfter != null) {
      int n = (int) Math.min(len, cutAfter);
      out.write(content, (int) start, n);
      out.flush();
      // Drop the connection without sending the rest: the client sees the stream end early.
      throw new IOException("FakeHub: connection cut after " + n + " bytes on purpose");
    }
    long pause = ex.getRequestURI().getPath().startsWith("/cdn/") ? slowMillisPer64k : 0;
    for (long off = start; off < content.length; off += 65536) {
      out.write(content, (int) off, (int) Math.min(65536, content.length - off));
      if (pause > 0) {
        out.flush();
        try {
          Thread.sleep(pause);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("FakeHub: stopped");
        }
      }
    }
  }

  private static void redirect(HttpExchange ex, int code, String location) throws IOException {
    ex.getResponseHeaders().set("Location", location);
    ex.sendResponseHeaders(code, -1);
  }

  private static void error(HttpExchange ex, int code, String errorCode, String message)
      throws IOException {
    if (errorCode != null) ex.getResponseHeaders().set("X-Error-Code", errorCode);
    ex.getResponseHeaders().set("X-Error-Message", message);
    byte[] body = utf8("{\"error\":\"" + message.replace("\"", "'") + "\"}");
    if (ex.getRequestMethod().equals("HEAD")) {
      ex.sendResponseHeaders(code, -1);
      return;
    }
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(code, body.length);
    ex.getResponseBody().write(body);
  }
}
