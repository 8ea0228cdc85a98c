package tandem.common.hub;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The three Hub calls a snapshot download needs, over {@link HttpClient}:
 *
 * <ul>
 *   <li>{@code GET {endpoint}/api/models/{repo}/revision/{rev}}: the commit ({@code sha}) and the
 *       file list ({@code siblings[].rfilename});
 *   <li>{@code HEAD {endpoint}/{repo}/resolve/{commit}/{file}}: {@code X-Repo-Commit}, {@code
 *       X-Linked-Etag} (LFS sha256) or {@code ETag} (git sha1), {@code X-Linked-Size} or {@code
 *       Content-Length}, and for LFS files a 302 to the CDN whose {@code Location} is where the
 *       bytes are;
 *   <li>{@code GET location} with {@code Range: bytes=N-} to resume.
 * </ul>
 *
 * Redirects are followed by hand: a relative one (a renamed repository) always, keeping the token;
 * an absolute one (the CDN) only for the byte download, and the token is dropped when it leaves the
 * endpoint's origin. Network failures and 5xx/429 answers surface as {@link IOException} (the
 * caller retries); every other refusal is a {@link HubException} that says what to do.
 */
public final class HubClient {
  /**
   * The repository's commit for the revision, every file in it and, where the API gives them
   * ({@code blobs=true}), each file's content hash: the LFS sha256, else the git blob sha1. The
   * download checks files against these when a mirror's ETag is not a content hash.
   */
  public record RepoInfo(String commit, List<String> files, java.util.Map<String, String> hashes) {
    public RepoInfo(String commit, List<String> files) {
      this(commit, files, java.util.Map.of());
    }
  }

  /**
   * What the resolve endpoint says about one file.
   *
   * @param etag the blob name: LFS sha256 (64 hex) or git blob sha1 (40 hex)
   * @param size bytes of the real content (not of an LFS pointer)
   * @param location where to GET the bytes (the CDN for LFS files)
   */
  public record FileMeta(String commit, String etag, long size, URI location) {
    public boolean isLfs() {
      return etag.matches("[0-9a-f]{64}");
    }
  }

  private static final int MAX_REDIRECTS = 10;
  private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
  private final HubSettings settings;
  private final HttpClient http;
  private final Duration requestTimeout;
  private final Duration stallTimeout;

  public HubClient(HubSettings settings) {
    this(settings, Duration.ofSeconds(30), Duration.ofSeconds(60));
  }

  /**
   * @param requestTimeout how long to wait for a response's headers
   * @param stallTimeout how long a download may receive nothing before the connection is dropped
   *     and resumed (the JDK client has no read timeout of its own, so a stalled socket would
   *     otherwise hang forever)
   */
  public HubClient(HubSettings settings, Duration requestTimeout, Duration stallTimeout) {
    this.settings = Objects.requireNonNull(settings);
    this.http =
        HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    this.requestTimeout = requestTimeout;
    this.stallTimeout = stallTimeout;
  }

  public HubSettings settings() {
    return settings;
  }

  public RepoInfo repoInfo(RepoRef ref) throws IOException {
    URI uri =
        URI.create(
            settings.endpoint()
                + "/api/models/"
                + ref.repoId()
                + "/revision/"
                + encode(ref.revision(), false)
                + "?blobs=true");
    HttpResponse<String> r =
        send(
            request(uri, "GET").header("Accept", "application/json"),
            HttpResponse.BodyHandlers.ofString(),
            false);
    if (r.statusCode() != 200) throw failure(r, ref, null, r.body());
    try {
      JsonObject o = JsonParser.parseString(r.body()).getAsJsonObject();
      String sha = o.has("sha") && !o.get("sha").isJsonNull() ? o.get("sha").getAsString() : null;
      if (!RepoRef.isCommitHash(sha)) {
        throw new HubException(
            HubException.Kind.PROTOCOL,
            "the Hub's answer for " + ref + " has no commit hash ('sha'): " + abbrev(r.body()));
      }
      List<String> files = new ArrayList<>();
      java.util.Map<String, String> hashes = new java.util.HashMap<>();
      JsonArray siblings = o.has("siblings") ? o.getAsJsonArray("siblings") : new JsonArray();
      for (JsonElement e : siblings) {
        JsonObject s = e.getAsJsonObject();
        String name = s.get("rfilename").getAsString();
        files.add(name);
        JsonElement lfs = s.get("lfs");
        if (lfs != null && lfs.isJsonObject() && lfs.getAsJsonObject().has("sha256")) {
          hashes.put(name, lfs.getAsJsonObject().get("sha256").getAsString());
        } else if (s.has("blobId") && !s.get("blobId").isJsonNull()) {
          hashes.put(name, s.get("blobId").getAsString());
        }
      }
      return new RepoInfo(sha, List.copyOf(files), java.util.Map.copyOf(hashes));
    } catch (IllegalStateException
        | UnsupportedOperationException
        | com.google.gson.JsonParseException e) {
      throw new HubException(
          HubException.Kind.PROTOCOL,
          "the Hub's answer for " + ref + " is not the expected JSON: " + abbrev(r.body()),
          e);
    }
  }

  /**
   * HEAD on the resolve URL; {@code ref}'s revision should be the commit so that every file is of
   * one commit.
   */
  public FileMeta fileMetadata(RepoRef ref, String file) throws IOException {
    URI uri = resolveUri(ref, file);
    HttpResponse<Void> r =
        send(
            request(uri, "HEAD").header("Accept-Encoding", "identity"),
            HttpResponse.BodyHandlers.discarding(),
            false);
    int code = r.statusCode();
    if (code != 200 && !(code >= 300 && code < 400)) throw failure(r, ref, file, null);
    var h = r.headers();
    String commit =
        h.firstValue("X-Repo-Commit").orElse(ref.revisionIsCommit() ? ref.revision() : null);
    String etag =
        normalizeEtag(h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).orElse(null));
    String size =
        h.firstValue("X-Linked-Size").or(() -> h.firstValue("Content-Length")).orElse(null);
    if (etag == null || size == null) {
      throw new HubException(
          HubException.Kind.PROTOCOL,
          "the Hub sent no ETag or size for "
              + file
              + " of "
              + ref
              + " (HTTP "
              + code
              + "); a proxy may be stripping headers; check "
              + HubSettings.ENV_ENDPOINT);
    }
    HubCache.checkEtag(etag);
    URI location = uri;
    if (code >= 300) {
      location =
          uri.resolve(
              h.firstValue("Location")
                  .orElseThrow(
                      () ->
                          new HubException(
                              HubException.Kind.PROTOCOL,
                              "redirect without Location for " + file)));
    } else {
      location = r.request().uri(); // after any relative redirect
    }
    try {
      return new FileMeta(commit, etag, Long.parseLong(size.trim()), location);
    } catch (NumberFormatException e) {
      throw new HubException(HubException.Kind.PROTOCOL, "bad size '" + size + "' for " + file);
    }
  }

  /**
   * Downloads {@code location} into {@code partial}, continuing after its current length with a
   * Range request. On return the file holds exactly {@code expectedSize} bytes; an early end of
   * stream is an {@link IOException}, so the caller can retry and resume from wherever it stopped.
   */
  public void fetch(URI location, Path partial, long have, long expectedSize, LongConsumer onBytes)
      throws IOException {
    HttpRequest.Builder b =
        request(location, "GET").timeout(requestTimeout).header("Accept-Encoding", "identity");
    if (have > 0) b.header("Range", "bytes=" + have + "-");
    HttpResponse<InputStream> r = send(b, HttpResponse.BodyHandlers.ofInputStream(), true);
    StallWatch watch = new StallWatch(Thread.currentThread(), r.body(), stallTimeout);
    try (InputStream in = r.body()) {
      int code = r.statusCode();
      long start;
      if (code == 206) {
        Matcher m = CONTENT_RANGE.matcher(r.headers().firstValue("Content-Range").orElse(""));
        start = m.matches() ? Long.parseLong(m.group(1)) : have;
        if (start != have)
          throw new IOException("server resumed at byte " + start + ", not at " + have);
      } else if (code == 200) {
        start = 0; // the server ignored the Range header: start over
      } else {
        String body = new String(in.readNBytes(4096), StandardCharsets.UTF_8);
        URI at = r.request().uri();
        if ((code == 401 || code == 403) && !sameOrigin(at, settings.endpoint())) {
          // A signed CDN link that expired (a long stall, a slow resume): the caller asks the Hub
          // for a fresh one.
          throw new IOException(
              "the download link was refused (HTTP " + code + " from " + at.getHost() + ")");
        }
        throw failure(r, null, location.getPath(), body);
      }
      try (FileChannel ch =
          FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
        ch.truncate(start);
        ch.position(start);
        long pos = start;
        byte[] buf = new byte[1 << 20];
        int n;
        while ((n = in.read(buf)) > 0) {
          watch.progress();
          if (pos + n > expectedSize) {
            throw new IOException(
                "the server sent more than the announced " + expectedSize + " bytes");
          }
          ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
          while (bb.hasRemaining()) ch.write(bb);
          pos += n;
          onBytes.accept(n);
        }
        if (pos != expectedSize) {
          throw new IOException(
              "connection closed after " + pos + " of " + expectedSize + " bytes");
        }
        ch.force(false);
      }
    } catch (IOException e) {
      if (watch.fired()) {
        throw new IOException(
            "no data for " + stallTimeout.toMillis() + " ms, connection dropped", e);
      }
      throw e;
    } finally {
      watch.stop();
    }
  }

  /**
   * Interrupts the downloading thread when no bytes arrived for a while: the blocked read then
   * fails with an IOException and the caller resumes on a fresh connection. The interrupt is
   * cleared again once handled.
   */
  private static final class StallWatch {
    private final Thread worker;
    private final InputStream stream;
    private final long limitNanos;
    private final java.util.concurrent.ScheduledExecutorService timer;
    private volatile long last = System.nanoTime();
    private boolean stopped;
    private final java.util.concurrent.atomic.AtomicBoolean fired =
        new java.util.concurrent.atomic.AtomicBoolean();

    StallWatch(Thread worker, InputStream stream, Duration limit) {
      this.worker = worker;
      this.stream = stream;
      this.limitNanos = limit.toNanos();
      this.timer =
          java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
              r -> {
                Thread t = new Thread(r, "hub-stall-watch");
                t.setDaemon(true);
                return t;
              });
      long period = Math.max(10, limit.toMillis() / 4);
      timer.scheduleAtFixedRate(
          this::check, period, period, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    void progress() {
      last = System.nanoTime();
    }

    boolean fired() {
      return fired.get();
    }

    private synchronized void check() {
      if (stopped) return;
      if (System.nanoTime() - last > limitNanos && fired.compareAndSet(false, true)) {
        // JDK 17's response stream ignores interrupts while it waits for data but rechecks "closed"
        // after each
        // wake-up; newer JDKs fail the read on the interrupt itself. Closing and then interrupting
        // works on both.
        try {
          stream.close();
        } catch (IOException | RuntimeException ignored) {
          // the read fails anyway
        }
        worker.interrupt();
      }
    }

    void stop() {
      synchronized (this) {
        stopped = true; // from here on check() cannot interrupt the worker any more
      }
      timer.shutdownNow();
      if (fired.get())
        Thread.interrupted(); // our own interrupt, not the user's: do not let it leak
    }
  }

  public URI resolveUri(RepoRef ref, String file) {
    return URI.create(
        settings.endpoint()
            + "/"
            + ref.repoId()
            + "/resolve/"
            + encode(ref.revision(), false)
            + "/"
            + encode(file, true));
  }

  private HttpRequest.Builder request(URI uri, String method) {
    return HttpRequest.newBuilder(uri)
        .timeout(requestTimeout)
        .header("User-Agent", "tandem/0.1; java/" + Runtime.version().feature())
        .method(method, HttpRequest.BodyPublishers.noBody());
  }

  private <T> HttpResponse<T> send(
      HttpRequest.Builder builder, HttpResponse.BodyHandler<T> handler, boolean followAbsolute)
      throws IOException {
    HttpRequest base = builder.build();
    URI uri = base.uri();
    for (int hop = 0; ; hop++) {
      HttpRequest.Builder b =
          HttpRequest.newBuilder(base, (k, v) -> !k.equalsIgnoreCase("Authorization")).uri(uri);
      // The token goes only to the Hub itself, never to a CDN or any other host a redirect names.
      if (settings.token() != null && sameOrigin(uri, settings.endpoint())) {
        b.header("Authorization", "Bearer " + settings.token());
      }
      HttpResponse<T> r;
      try {
        r = http.send(b.build(), handler);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while talking to " + uri.getHost());
      }
      int code = r.statusCode();
      Optional<String> loc = r.headers().firstValue("Location");
      if (code >= 300 && code < 400 && code != 304 && loc.isPresent()) {
        URI next = uri.resolve(loc.get());
        boolean relative = URI.create(loc.get()).getHost() == null;
        if (relative || followAbsolute) {
          if (hop >= MAX_REDIRECTS) {
            throw new HubException(
                HubException.Kind.PROTOCOL,
                "more than " + MAX_REDIRECTS + " redirects from " + base.uri());
          }
          closeQuietly(r);
          uri = next;
          continue;
        }
      }
      if (code >= 500 || code == 429) {
        closeQuietly(r);
        throw new IOException("the Hub answered HTTP " + code + " for " + uri.getPath());
      }
      return r;
    }
  }

  private HubException failure(HttpResponse<?> r, RepoRef ref, String file, String body) {
    int code = r.statusCode();
    String errorCode = r.headers().firstValue("X-Error-Code").orElse("");
    String serverMsg = r.headers().firstValue("X-Error-Message").orElse(bodyMessage(body));
    String what =
        ref == null
            ? (file == null ? "the download" : file)
            : (file == null ? ref.toString() : file + " of " + ref);
    String detail = serverMsg.isEmpty() ? "" : " (the Hub says: " + serverMsg + ")";
    boolean hasToken = settings.token() != null;
    if (code == 401 || (code == 403 && !errorCode.equals("GatedRepo"))) {
      String why =
          hasToken
              ? "the Hub refused the token from "
                  + HubSettings.ENV_TOKEN
                  + " for "
                  + what
                  + " (HTTP "
                  + code
                  + ")"
                  + detail
                  + ": the token is invalid or expired, it lacks read access, or the repository"
                  + " does not exist. Check the repository id and create a read token at "
                  + settings.endpoint()
                  + "/settings/tokens"
              : "the Hub answered HTTP "
                  + code
                  + " (unauthorized) for "
                  + what
                  + " and no token was sent"
                  + detail
                  + ": the repository is private or gated, or it does not exist. Check the"
                  + " repository id, or set "
                  + HubSettings.ENV_TOKEN
                  + " to an access token with read access (create one at "
                  + settings.endpoint()
                  + "/settings/tokens)";
      return new HubException(HubException.Kind.AUTH, why);
    }
    if (code == 403) {
      return new HubException(
          HubException.Kind.AUTH,
          "access to "
              + what
              + " is gated (HTTP 403)"
              + detail
              + ": accept its conditions on the repository page with"
              + " the account whose token is in "
              + HubSettings.ENV_TOKEN);
    }
    if (code == 404) {
      // ref is null only for the byte download, whose URL no longer names the repository.
      String repoId = ref == null ? "the repository" : ref.repoId();
      String kind =
          switch (errorCode) {
            case "RevisionNotFound" ->
                "revision '"
                    + (ref == null ? "?" : ref.revision())
                    + "' does not exist in "
                    + repoId;
            case "EntryNotFound" ->
                "file " + file + " does not exist in " + (ref == null ? repoId : ref.toString());
            case "RepoNotFound" ->
                "repository " + repoId + " does not exist on " + settings.endpoint();
            default -> what + " was not found on " + settings.endpoint();
          };
      return new HubException(HubException.Kind.NOT_FOUND, kind + " (HTTP 404)" + detail);
    }
    return new HubException(
        HubException.Kind.PROTOCOL, "the Hub answered HTTP " + code + " for " + what + detail);
  }

  private static String bodyMessage(String body) {
    if (body == null || body.isBlank()) return "";
    try {
      JsonObject o = JsonParser.parseString(body).getAsJsonObject();
      if (o.has("error")) return o.get("error").getAsString();
    } catch (RuntimeException e) {
      // not JSON: show the start of it
    }
    return abbrev(body);
  }

  private static String abbrev(String s) {
    s = s == null ? "" : s.strip().replaceAll("\\s+", " ");
    return s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }

  private static void closeQuietly(HttpResponse<?> r) {
    if (r.body() instanceof InputStream in) {
      try {
        in.close();
      } catch (IOException ignored) {
        // the redirect's body is of no interest
      }
    }
  }

  static boolean sameOrigin(URI a, URI b) {
    return a.getScheme().equalsIgnoreCase(b.getScheme())
        && a.getHost().equalsIgnoreCase(b.getHost())
        && port(a) == port(b);
  }

  private static int port(URI u) {
    if (u.getPort() >= 0) return u.getPort();
    return u.getScheme().toLowerCase(Locale.ROOT).equals("https") ? 443 : 80;
  }

  /** The ETag header without quotes or a weak-validator prefix, as Python stores it. */
  static String normalizeEtag(String etag) {
    if (etag == null) return null;
    String e = etag.trim();
    if (e.startsWith("W/")) e = e.substring(2);
    if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\""))
      e = e.substring(1, e.length() - 1);
    return e.isEmpty() ? null : e;
  }

  /**
   * Percent-encodes like Python's {@code quote}: unreserved characters stay, '/' stays only in file
   * paths.
   */
  static String encode(String s, boolean keepSlash) {
    StringBuilder sb = new StringBuilder();
    for (byte x : s.getBytes(StandardCharsets.UTF_8)) {
      int c = x & 0xff;
      boolean keep =
          (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '-'
              || c == '.'
              || c == '_'
              || c == '~'
              || (keepSlash && c == '/');
      if (keep) sb.append((char) c);
      else
        sb.append('%')
            .append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
    }
    return sb.toString();
  }
}
