package tandem.common.security;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;

/**
 * Requires {@code authorization: Bearer <token>} with one of the allowed tokens; anything else is
 * UNAUTHENTICATED. Tokens come from a file (one per line, {@code #} comments; re-read when its
 * modification time changes, so a Kubernetes secret update takes effect without a restart) and/or a
 * comma-separated variable. Only SHA-256 digests are kept and compared in constant time, and no
 * token is ever logged or echoed.
 */
public final class BearerTokenAuth implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final Path file;
  private final List<byte[]> fixed;
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(BearerTokenAuth.class);

  private volatile List<byte[]> fromFile = List.of();
  private volatile FileTime loaded;
  // read within RACY_MILLIS of its modification time: a change in the same clock tick would keep
  // that time, so the file is read again until a read comes later than that (git's "racily clean")
  private volatile boolean racy;
  private static final long RACY_MILLIS = 2000;
  private volatile boolean everLoaded;
  private String lastProblem;

  public BearerTokenAuth(Path file, List<String> tokens) {
    this.file = file;
    this.fixed = digests(tokens);
    if (file != null) reloadIfChanged();
    if (fixed.isEmpty() && fromFile.isEmpty()) {
      throw new IllegalArgumentException(
          "bearer-token auth is on but no token is configured ("
              + CommonSettings.AUTH_TOKENS_FILE.env()
              + " is empty"
              + (file == null ? " or unset" : "")
              + ", "
              + CommonSettings.AUTH_TOKENS.env()
              + " unset)");
    }
  }

  /** The interceptor, or null when neither variable is set (auth off: the localhost default). */
  public static BearerTokenAuth fromEnv(Env env) {
    String f = env.get(CommonSettings.AUTH_TOKENS_FILE);
    String t = env.get(CommonSettings.AUTH_TOKENS);
    if (f == null && t == null) return null;
    f = f == null ? "" : f;
    t = t == null ? "" : t;
    List<String> tokens = new ArrayList<>();
    for (String s : t.split(",")) if (!s.isBlank()) tokens.add(s.strip());
    return new BearerTokenAuth(f.isBlank() ? null : Path.of(f), tokens);
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String why = refusal(headers.get(AUTHORIZATION));
    if (why == null) return next.startCall(call, headers);
    call.close(Status.UNAUTHENTICATED.withDescription(why), new Metadata());
    return new ServerCall.Listener<>() {};
  }

  /**
   * Checks an {@code authorization} header value (any transport): null when it carries a valid
   * bearer token, else why not, in words a client can act on.
   */
  public String refusal(String authorization) {
    if (authorization == null)
      return "missing authorization header; send 'authorization: Bearer <token>'";
    if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return "the authorization header is not a bearer token; send 'authorization: Bearer <token>'";
    }
    if (!allowed(authorization.substring(7).strip())) return "the bearer token is not valid";
    return null;
  }

  boolean allowed(String token) {
    if (file != null) reloadIfChanged();
    byte[] d = sha256(token);
    boolean ok = false;
    // no early exit: the time taken does not depend on which token matched
    for (byte[] t : fixed) ok |= MessageDigest.isEqual(t, d);
    for (byte[] t : fromFile) ok |= MessageDigest.isEqual(t, d);
    return ok;
  }

  /**
   * A failed look at the token file: before the first load it fails the start; a file that is gone
   * revokes its tokens; any other error keeps the tokens loaded before.
   */
  private void failed(IOException e, String what) {
    if (!everLoaded) throw new UncheckedIOException("cannot read the token file " + file, e);
    if (e instanceof NoSuchFileException) {
      revoke();
    } else {
      problem(
          "cannot "
              + what
              + " the token file "
              + file
              + " ("
              + e.getClass().getSimpleName()
              + "); keeping the "
              + fromFile.size()
              + " tokens loaded before");
    }
  }

  /**
   * Re-reads the file when its modification time changed. A file that is gone revokes its tokens at
   * once (fail closed: deleting the file is how an operator withdraws them; Kubernetes replaces a
   * mounted Secret atomically, so it is never missing in between); a file that exists but cannot be
   * read keeps the tokens loaded before. Reloads, revocations and failures are logged with the
   * token count only, never a token.
   */
  private void reloadIfChanged() {
    FileTime m;
    try {
      m = Files.getLastModifiedTime(file);
    } catch (IOException e) {
      failed(e, "check");
      return;
    }
    if (m.equals(loaded) && !racy) return;
    synchronized (this) {
      if (m.equals(loaded) && !racy) return;
      List<String> tokens = new ArrayList<>();
      try {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
          String s = line.strip();
          if (!s.isEmpty() && !s.startsWith("#")) tokens.add(s);
        }
      } catch (IOException e) {
        failed(e, "re-read");
        return;
      }
      List<byte[]> read = digests(tokens);
      boolean same = sameTokens(read, fromFile) && loaded != null;
      fromFile = read;
      loaded = m;
      racy = System.currentTimeMillis() - m.toMillis() < RACY_MILLIS;
      lastProblem = null;
      if (!same) {
        LOG.info(
            (everLoaded ? "reloaded" : "loaded")
                + " the token file "
                + file
                + ": "
                + tokens.size()
                + " tokens");
      }
      everLoaded = true;
    }
  }

  private static boolean sameTokens(List<byte[]> a, List<byte[]> b) {
    if (a.size() != b.size()) return false;
    for (int i = 0; i < a.size(); i++) if (!MessageDigest.isEqual(a.get(i), b.get(i))) return false;
    return true;
  }

  private synchronized void revoke() {
    if (loaded == null && fromFile.isEmpty()) return; // already revoked
    int n = fromFile.size();
    fromFile = List.of();
    loaded = null;
    lastProblem = null;
    LOG.warn(
        "the token file " + file + " is gone: its " + n + " tokens are revoked until it is back");
  }

  /** Logs a reload failure once per distinct problem (not on every call). */
  private synchronized void problem(String what) {
    if (what.equals(lastProblem)) return;
    lastProblem = what;
    LOG.warn(what);
  }

  private static List<byte[]> digests(List<String> tokens) {
    List<byte[]> out = new ArrayList<>();
    for (String t : tokens) out.add(sha256(t));
    return List.copyOf(out);
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
