package tandem.gateway.limits;

import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import tandem.common.config.Env;
import tandem.common.security.BearerTokenAuth;
import tandem.common.security.TlsSettings;

/**
 * The gateway's security settings in one place: TLS (and optional mTLS) on the public port,
 * bearer-token auth for Chat, and TLS with a client certificate on the channels to vision-svc and
 * decoder-svc. Everything is off unless its variables are set (docs/security.md), so a localhost
 * run needs nothing.
 */
public final class EdgeSecurity {
  private final TlsSettings edge;
  private TlsSettings.Server
      server; // made when first asked for: the Chat ports (publicHost, vlm serve) make theirs
  private final TlsSettings.Channel backend;
  private final List<ServerInterceptor> auth;
  private final boolean tokenAuth;
  private final BearerTokenAuth tokens;
  private final boolean edgeTls;

  private EdgeSecurity(
      TlsSettings edge,
      TlsSettings.Channel backend,
      List<ServerInterceptor> auth,
      BearerTokenAuth tokens,
      boolean edgeTls) {
    this.edge = edge;
    this.backend = backend;
    this.auth = auth;
    this.tokenAuth = tokens != null;
    this.tokens = tokens;
    this.edgeTls = edgeTls;
  }

  /**
   * The bearer-token check, or null when token auth is off; the HTTP front door applies the same
   * tokens.
   */
  public BearerTokenAuth bearerTokens() {
    return tokens;
  }

  /** True when the public gRPC port serves TLS (TANDEM_TLS_*). */
  public boolean edgeTls() {
    return edgeTls;
  }

  /** True when bearer tokens are checked: then a (checked) token may key the per-client limits. */
  public boolean tokenAuth() {
    return tokenAuth;
  }

  /**
   * The limiter for the Chat port: keyed by checked bearer token when token auth is on, else by
   * peer address.
   */
  public ClientLimiter limiter(GatewayLimits limits) {
    return new ClientLimiter(limits, tokenAuth);
  }

  public static EdgeSecurity fromEnv(Env env) {
    return of(
        TlsSettings.serverFromEnv(env),
        TlsSettings.backendFromEnv(env),
        BearerTokenAuth.fromEnv(env));
  }

  /** {@code tokens} may be null (no bearer-token auth). */
  public static EdgeSecurity of(TlsSettings edge, TlsSettings backends, BearerTokenAuth tokens) {
    try {
      List<ServerInterceptor> auth = new ArrayList<>();
      if (tokens != null) auth.add(tokens);
      auth.addAll(edge.interceptors()); // added last: runs before the token check
      return new EdgeSecurity(
          edge, backends.channelCredentials(), List.copyOf(auth), tokens, edge.enabled());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The public port's credentials (TLS files loaded, and watched for changes, on the first call).
   */
  public synchronized ServerCredentials serverCredentials() {
    if (server == null) {
      try {
        server = edge.serverCredentials();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return server.credentials();
  }

  public ChannelCredentials backendCredentials() {
    return backend.credentials();
  }

  /**
   * The Chat server's interceptors: {@code inner} (run last, e.g. the limiter), then the auth
   * checks. gRPC runs the last interceptor of the list first; the host adds its own (status
   * mapping, telemetry) after these.
   */
  public List<ServerInterceptor> interceptors(ServerInterceptor inner) {
    List<ServerInterceptor> l = new ArrayList<>();
    l.add(inner);
    l.addAll(auth);
    return List.copyOf(l);
  }

  /** {@link #interceptors(ServerInterceptor)}, then {@code outer} (run first, e.g. telemetry). */
  public List<ServerInterceptor> interceptors(ServerInterceptor inner, ServerInterceptor outer) {
    List<ServerInterceptor> l = new ArrayList<>(interceptors(inner));
    l.add(outer);
    return List.copyOf(l);
  }
}
