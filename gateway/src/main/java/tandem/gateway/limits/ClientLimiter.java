package tandem.gateway.limits;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import tandem.common.error.Rejection;
import tandem.common.grpc.GrpcRejections;
import tandem.gateway.config.GatewaySettings;

/**
 * Admission at the gateway: a cap on Chat streams open at once over all clients, and per client a
 * token bucket (requests per second with a burst) and a cap on streams open at once. A client is
 * its bearer token when bearer-token auth is on (the token was checked before this interceptor
 * runs, so many users behind one NAT are told apart, and one user cannot dodge the limit by
 * reconnecting), else its peer IP address: with auth off a token is whatever the caller invents, so
 * it must not choose the key. Refusals are RESOURCE_EXHAUSTED naming the limit, its value and its
 * variable; the call never reaches the gateway's code. The key also travels in the call's context
 * ({@link #CLIENT_KEY}): the gateway scopes image ids to it.
 */
public final class ClientLimiter implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /**
   * The client key of the call being served ({@code token:<sha256 prefix>} or {@code
   * ip:<address>}).
   */
  public static final Context.Key<String> CLIENT_KEY = Context.key("tandem-client-key");

  /**
   * The tenant of the call's image ids: the checked token's key with auth on; with auth off the
   * peer's full address (IP and port, i.e. the connection), because two clients on one host (or
   * behind one NAT) share an IP and must not read each other's images. Limits key on the IP, so
   * reconnecting does not escape them.
   */
  public static final Context.Key<String> IMAGE_SCOPE = Context.key("tandem-image-scope");

  /** Above this many tracked clients, idle ones (no open stream, bucket full) are forgotten. */
  private static final int SWEEP_ABOVE = 10_000;

  private final GatewayLimits limits;
  private final boolean keyByToken;
  private final LongSupplier nanoClock;
  private final ConcurrentHashMap<String, Client> clients = new ConcurrentHashMap<>();
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicBoolean sweeping = new AtomicBoolean();

  /**
   * Table size that triggers the next sweep: doubles with the live table, so sweeps cost O(1) per
   * call amortized.
   */
  private volatile int sweepAt = SWEEP_ABOVE;

  /** A limiter keyed by peer address (bearer-token auth off). */
  public ClientLimiter(GatewayLimits limits) {
    this(limits, false);
  }

  /**
   * @param keyByToken true when bearer-token auth runs before this interceptor: a checked token is
   *     the key
   */
  public ClientLimiter(GatewayLimits limits, boolean keyByToken) {
    this(limits, keyByToken, System::nanoTime);
  }

  ClientLimiter(GatewayLimits limits, boolean keyByToken, LongSupplier nanoClock) {
    this.limits = limits;
    this.keyByToken = keyByToken;
    this.nanoClock = nanoClock;
  }

  /** Streams open now over all clients (tests and metrics). */
  public int openStreams() {
    return open.get();
  }

  /** Clients tracked now (tests and metrics). */
  public int trackedClients() {
    return clients.size();
  }

  /** State of one client; its methods are synchronized on it. */
  private final class Client {
    double tokens = limits.burst();
    long last = nanoClock.getAsLong();
    int streams;

    synchronized boolean takeToken() {
      if (limits.ratePerSecond() <= 0) return true;
      long now = nanoClock.getAsLong();
      tokens = Math.min(limits.burst(), tokens + (now - last) / 1e9 * limits.ratePerSecond());
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    }

    synchronized boolean openStream() {
      if (limits.maxStreamsPerClient() > 0 && streams >= limits.maxStreamsPerClient()) return false;
      streams++;
      return true;
    }

    synchronized void closeStream() {
      streams--;
    }

    synchronized boolean idle() {
      return streams == 0
          && (limits.ratePerSecond() <= 0
              || tokens + (nanoClock.getAsLong() - last) / 1e9 * limits.ratePerSecond()
                  >= limits.burst());
    }
  }

  /** Open streams of a client key (tests and metrics). */
  public int openStreams(String key) {
    Client c = clients.get(key);
    if (c == null) return 0;
    synchronized (c) {
      return c.streams;
    }
  }

  /**
   * The key a call is limited under: {@code token:<sha256 prefix>} when {@code byToken} (auth
   * checked the token) and the call sends one, else {@code ip:<address>}.
   */
  public static String clientKey(ServerCall<?, ?> call, Metadata headers, boolean byToken) {
    String auth = byToken ? headers.get(AUTHORIZATION) : null;
    if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7) && auth.length() > 7) {
      return "token:" + sha256Prefix(auth.substring(7).strip());
    }
    SocketAddress peer = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    if (peer instanceof InetSocketAddress inet) {
      return "ip:"
          + (inet.getAddress() != null ? inet.getAddress().getHostAddress() : inet.getHostString());
    }
    return "peer:" + peer;
  }

  static String sha256Prefix(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 8); // never keep or log the token itself
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String key = clientKey(call, headers, keyByToken);
    String scope =
        key.startsWith("token:")
            ? key
            : "conn:" + call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    Context ctx = Context.current().withValue(CLIENT_KEY, key).withValue(IMAGE_SCOPE, scope);
    Runnable release;
    try {
      release = admit(key);
    } catch (Rejection r) {
      call.close(
          GrpcRejections.status(r),
          GrpcRejections.trailers(r)); // RESOURCE_EXHAUSTED: rate, streams per client, global cap
      return new ServerCall.Listener<>() {};
    }
    ServerCall.Listener<ReqT> delegate;
    try {
      delegate = Contexts.interceptCall(ctx, call, headers, next);
    } catch (RuntimeException e) {
      release.run();
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onComplete() {
        release.run();
        super.onComplete();
      }

      @Override
      public void onCancel() {
        release.run();
        super.onCancel();
      }
    };
  }

  /**
   * Admits one stream of client {@code key} (rate, then the global cap, then the client's streams),
   * the same for both front doors; returns what to run once when the stream ends.
   *
   * @throws Rejection RATE_LIMITED (rate, client streams) or OVERLOADED (the global cap), naming
   *     the limit
   */
  public Runnable admit(String key) {
    boolean perClient = limits.ratePerSecond() > 0 || limits.maxStreamsPerClient() > 0;
    if (!perClient && limits.maxConcurrentStreams() <= 0) return () -> {};
    Client c = perClient ? client(key) : null;
    if (c != null && !c.takeToken()) {
      throw new Rejection(
          Rejection.Kind.RATE_LIMITED,
          "rate limit: "
              + fmt(limits.ratePerSecond())
              + " requests per second per client, burst "
              + limits.burst()
              + " ("
              + GatewaySettings.RATE_PER_SECOND.env()
              + ", "
              + GatewaySettings.RATE_BURST.env()
              + "); retry later");
    }
    int global = limits.maxConcurrentStreams();
    if (global > 0 && open.incrementAndGet() > global) {
      open.decrementAndGet();
      throw new Rejection(
          Rejection.Kind.OVERLOADED,
          "the gateway already serves "
              + global
              + " streams; the limit is "
              + global
              + " concurrent streams over all clients ("
              + GatewaySettings.MAX_CONCURRENT_STREAMS.env()
              + "="
              + global
              + "); retry later");
    }
    if (c != null && !c.openStream()) {
      if (global > 0) open.decrementAndGet();
      throw new Rejection(
          Rejection.Kind.RATE_LIMITED,
          "this client already has "
              + limits.maxStreamsPerClient()
              + " streams open; the limit is "
              + limits.maxStreamsPerClient()
              + " concurrent streams per client ("
              + GatewaySettings.MAX_STREAMS_PER_CLIENT.env()
              + "="
              + limits.maxStreamsPerClient()
              + ")");
    }
    AtomicBoolean released = new AtomicBoolean();
    return () -> {
      if (released.compareAndSet(false, true)) {
        if (c != null) c.closeStream();
        if (global > 0) open.decrementAndGet();
      }
    };
  }

  /**
   * The key of a client of the HTTP front door, as {@link #clientKey(ServerCall, Metadata,
   * boolean)} for gRPC: {@code token:<sha256 prefix>} when {@code byToken} and a bearer token was
   * sent, else {@code ip:<address>}.
   */
  public static String clientKey(String authorization, boolean byToken, InetSocketAddress peer) {
    if (byToken
        && authorization != null
        && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
        && authorization.length() > 7) {
      return "token:" + sha256Prefix(authorization.substring(7).strip());
    }
    return "ip:"
        + (peer.getAddress() != null ? peer.getAddress().getHostAddress() : peer.getHostString());
  }

  private Client client(String key) {
    Client c = clients.get(key);
    if (c != null) return c;
    if (clients.size() > sweepAt && sweeping.compareAndSet(false, true)) {
      try {
        clients.values().removeIf(Client::idle);
        sweepAt = Math.max(SWEEP_ABOVE, 2 * clients.size());
      } finally {
        sweeping.set(false);
      }
    }
    return clients.computeIfAbsent(key, k -> new Client());
  }

  private static String fmt(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }
}
