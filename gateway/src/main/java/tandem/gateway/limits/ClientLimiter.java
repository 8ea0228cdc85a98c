package tandem.gateway.limits;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;

/**
 * Per-client admission at the gateway: a token bucket (requests per second with a burst) and a cap on streams open
 * at once. A client is its bearer token when it sends one (so many users behind one NAT are told apart, and one user
 * cannot dodge the limit by reconnecting), else its peer IP address. Refusals are RESOURCE_EXHAUSTED naming the
 * limit, its value and its variable; the call never reaches the gateway's code.
 */
public final class ClientLimiter implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  /** Above this many tracked clients, idle ones (no open stream, bucket full) are forgotten. */
  private static final int SWEEP_ABOVE = 10_000;

  private final GatewayLimits limits;
  private final LongSupplier nanoClock;
  private final ConcurrentHashMap<String, Client> clients = new ConcurrentHashMap<>();

  public ClientLimiter(GatewayLimits limits) {
    this(limits, System::nanoTime);
  }

  ClientLimiter(GatewayLimits limits, LongSupplier nanoClock) {
    this.limits = limits;
    this.nanoClock = nanoClock;
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
      return streams == 0 && (limits.ratePerSecond() <= 0
          || tokens + (nanoClock.getAsLong() - last) / 1e9 * limits.ratePerSecond() >= limits.burst());
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

  /** The key a call is limited under: {@code token:<sha256 prefix>} or {@code ip:<address>}. */
  public static String clientKey(ServerCall<?, ?> call, Metadata headers) {
    String auth = headers.get(AUTHORIZATION);
    if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7) && auth.length() > 7) {
      return "token:" + sha256Prefix(auth.substring(7).strip());
    }
    SocketAddress peer = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    if (peer instanceof InetSocketAddress inet) {
      return "ip:" + (inet.getAddress() != null ? inet.getAddress().getHostAddress() : inet.getHostString());
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
    if (limits.ratePerSecond() <= 0 && limits.maxStreamsPerClient() <= 0) return next.startCall(call, headers);
    String key = clientKey(call, headers);
    if (clients.size() > SWEEP_ABOVE) clients.values().removeIf(Client::idle);
    Client c = clients.computeIfAbsent(key, k -> new Client());
    if (!c.takeToken()) {
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "rate limit: " + fmt(limits.ratePerSecond()) + " requests per second per client, burst "
                  + limits.burst() + " (" + tandem.common.config.ServiceDefaults.ENV_GATEWAY_RATE_PER_SECOND + ", " + tandem.common.config.ServiceDefaults.ENV_GATEWAY_RATE_BURST
                  + "); retry later"),
          new Metadata());
      return new ServerCall.Listener<>() {};
    }
    if (!c.openStream()) {
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "this client already has " + limits.maxStreamsPerClient() + " streams open; the limit is "
                  + limits.maxStreamsPerClient() + " concurrent streams per client ("
                  + tandem.common.config.ServiceDefaults.ENV_GATEWAY_MAX_STREAMS_PER_CLIENT + "=" + limits.maxStreamsPerClient() + ")"),
          new Metadata());
      return new ServerCall.Listener<>() {};
    }
    AtomicBoolean released = new AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true)) c.closeStream();
    };
    ServerCall.Listener<ReqT> delegate;
    try {
      delegate = next.startCall(call, headers);
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

  private static String fmt(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }
}
