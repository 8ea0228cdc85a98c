package tandem.common.security;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettySslContextServerCredentials;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslProvider;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.Setting;

/**
 * TLS for a server or a client channel from PEM files, re-read every {@code reloadSeconds} so a
 * renewed certificate (cert-manager, a rotated Kubernetes secret) is served without a restart. All
 * paths empty = plaintext, the localhost default.
 *
 * <p>Server side: {@code cert} + {@code key} are the server's identity; {@code ca}, when set, is
 * the CA that client certificates must chain to. A client certificate is then verified by the
 * handshake when presented (a bad one fails the handshake); with {@code requireClientCert}, {@link
 * #interceptors()} adds {@link ClientCertificateRequired} so a call without one is refused as
 * UNAUTHENTICATED — a clear status instead of a failed handshake — while the health service (not
 * intercepted) stays reachable for Kubernetes probes.
 *
 * <p>Client side: {@code ca} is the CA the server must chain to (the JVM's default CAs when empty);
 * {@code cert} + {@code key}, when set, are the client certificate presented for mTLS.
 */
public record TlsSettings(
    Path cert, Path key, Path ca, boolean requireClientCert, int reloadSeconds) {
  // Settings: CommonSettings.TLS_* (a service's own port) and BACKEND_TLS_* (the gateway's
  // channels).
  public static final int DEFAULT_RELOAD_SECONDS = CommonSettings.TLS_RELOAD_SECONDS.defaultValue();

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(TlsSettings.class);

  /** One daemon thread re-reads every certificate file of the process. */
  private static final ScheduledExecutorService RELOADER =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "tls-reload");
            t.setDaemon(true);
            return t;
          });

  public TlsSettings {
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException(
          "a TLS certificate needs its key and a key its certificate (both or neither)");
    }
    if (requireClientCert && ca == null) {
      throw new IllegalArgumentException(
          "requiring client certificates needs a client CA ("
              + CommonSettings.TLS_CLIENT_CA.env()
              + ")");
    }
    if (reloadSeconds <= 0)
      throw new IllegalArgumentException("reload period must be positive, got " + reloadSeconds);
  }

  public static TlsSettings none() {
    return new TlsSettings(null, null, null, false, DEFAULT_RELOAD_SECONDS);
  }

  public boolean enabled() {
    return cert != null || ca != null;
  }

  /** Server settings from TANDEM_TLS_*; plaintext when TANDEM_TLS_CERT is unset. */
  public static TlsSettings serverFromEnv(Env env) {
    Path cert = path(env, CommonSettings.TLS_CERT);
    Path key = path(env, CommonSettings.TLS_KEY);
    Path ca = path(env, CommonSettings.TLS_CLIENT_CA);
    String auth = env.get(CommonSettings.TLS_CLIENT_AUTH);
    if (auth == null) auth = ca == null ? "none" : "optional";
    if (cert == null && ca != null) {
      throw new IllegalArgumentException(
          CommonSettings.TLS_CLIENT_CA.env()
              + " is set but "
              + CommonSettings.TLS_CERT.env()
              + " is not: mTLS needs TLS");
    }
    return new TlsSettings(
        cert,
        key,
        auth.equals("none") ? null : ca,
        auth.equals("require"),
        env.get(CommonSettings.TLS_RELOAD_SECONDS));
  }

  /**
   * The gateway's backend-channel settings from TANDEM_BACKEND_TLS_*; plaintext when none is set.
   */
  public static TlsSettings backendFromEnv(Env env) {
    return new TlsSettings(
        path(env, CommonSettings.BACKEND_TLS_CERT),
        path(env, CommonSettings.BACKEND_TLS_KEY),
        path(env, CommonSettings.BACKEND_TLS_CA),
        false,
        env.get(CommonSettings.TLS_RELOAD_SECONDS));
  }

  private static Path path(Env env, Setting<String> setting) {
    String v = env.get(setting);
    if (v == null || v.isBlank()) return null;
    Path p = Path.of(v);
    if (!Files.isReadable(p))
      throw new IllegalArgumentException(setting.env() + "=" + v + ": no readable file there");
    return p;
  }

  /** Credentials plus the reload tasks to stop when the server or channel closes. */
  public record Server(ServerCredentials credentials, Closeable reloads) {}

  public record Channel(ChannelCredentials credentials, Closeable reloads) {}

  /**
   * A server builder for vision-svc / decoder-svc on {@code port} with TANDEM_TLS_* applied
   * (plaintext when unset). With TANDEM_TLS_CLIENT_AUTH=require the handshake itself refuses
   * callers without a certificate from the client CA: these services have no interceptor hook for
   * it, and their only legitimate caller is the gateway.
   */
  public static io.grpc.ServerBuilder<?> internalServerBuilder(int port, Env env)
      throws IOException {
    TlsSettings t = serverFromEnv(env);
    io.grpc.ServerBuilder<?> b =
        tandem.common.grpc.ServerBootstrap.withConnectionLimits(
            io.grpc.Grpc.newServerBuilderForPort(
                port, t.serverCredentials(t.requireClientCert).credentials()),
            env);
    List<String> peers = PeerNameAllowList.parse(env.get(CommonSettings.TLS_ALLOWED_PEERS));
    if (!peers.isEmpty()) {
      if (t.ca() == null) {
        throw new IllegalArgumentException(
            CommonSettings.TLS_ALLOWED_PEERS.env()
                + " checks client certificates: it "
                + "needs TLS with a client CA ("
                + CommonSettings.TLS_CLIENT_CA.env()
                + ")");
      }
      b.intercept(new PeerNameAllowList(peers));
    }
    return b;
  }

  public Server serverCredentials() throws IOException {
    return serverCredentials(false);
  }

  private Server serverCredentials(boolean handshakeRequiresClientCert) throws IOException {
    if (!enabled()) return new Server(InsecureServerCredentials.create(), () -> {});
    if (cert == null)
      throw new IllegalArgumentException("a TLS server needs a certificate and key");
    List<Closeable> reloads = new ArrayList<>();
    try {
      // Netty's JDK TLS provider asks the key manager on every handshake, so a reloaded certificate
      // is served on the
      // next connection whatever key-material caching the native provider does
      SslContextBuilder b =
          GrpcSslContexts.configure(
              SslContextBuilder.forServer(keyManager(reloads)), SslProvider.JDK);
      if (ca != null) {
        b.trustManager(trustManager(ca, reloads));
        b.clientAuth(handshakeRequiresClientCert ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL);
      }
      return new Server(
          NettySslContextServerCredentials.create(b.build()), () -> closeAll(reloads));
    } catch (GeneralSecurityException e) {
      closeAll(reloads);
      throw new IOException(
          "cannot load TLS files "
              + cert
              + ", "
              + key
              + (ca == null ? "" : ", " + ca)
              + ": "
              + e.getMessage(),
          e);
    }
  }

  /**
   * Interceptors the server's services need for these settings (the client-certificate check when
   * required).
   */
  public List<ServerInterceptor> interceptors() {
    return requireClientCert ? List.of(new ClientCertificateRequired()) : List.of();
  }

  public Channel channelCredentials() throws IOException {
    if (!enabled()) return new Channel(InsecureChannelCredentials.create(), () -> {});
    List<Closeable> reloads = new ArrayList<>();
    try {
      TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
      if (ca != null) b.trustManager(trustManager(ca, reloads));
      if (cert != null) b.keyManager(keyManager(reloads));
      return new Channel(b.build(), () -> closeAll(reloads));
    } catch (GeneralSecurityException e) {
      closeAll(reloads);
      throw new IOException("cannot load TLS files for a client channel: " + e.getMessage(), e);
    }
  }

  private AdvancedTlsX509KeyManager keyManager(List<Closeable> reloads)
      throws IOException, GeneralSecurityException {
    AdvancedTlsX509KeyManager km = new AdvancedTlsX509KeyManager();
    km.updateIdentityCredentials(cert.toFile(), key.toFile()); // now: a bad file fails the start
    reloads.add(
        watch(List.of(cert, key), () -> km.updateIdentityCredentials(cert.toFile(), key.toFile())));
    return km;
  }

  private AdvancedTlsX509TrustManager trustManager(Path caFile, List<Closeable> reloads)
      throws IOException, GeneralSecurityException {
    AdvancedTlsX509TrustManager tm =
        AdvancedTlsX509TrustManager.newBuilder()
            .setVerification(
                AdvancedTlsX509TrustManager.Verification.CERTIFICATE_AND_HOST_NAME_VERIFICATION)
            .build();
    tm.updateTrustCredentials(caFile.toFile());
    reloads.add(watch(List.of(caFile), () -> tm.updateTrustCredentials(caFile.toFile())));
    return tm;
  }

  interface Load {
    void run() throws IOException, GeneralSecurityException;
  }

  /**
   * Re-reads {@code files} when one's modification time or size changes. grpc-util's own periodic
   * reload silently raises any period under one minute to one minute (found by EdgeSecurityTest),
   * hence this small watcher. A file caught half-written fails to parse and is retried on the next
   * tick; the previous credentials stay in use.
   */
  private Closeable watch(List<Path> files, Load load) {
    long[] seen = stamp(files);
    var future =
        RELOADER.scheduleWithFixedDelay(
            () -> {
              long[] now = stamp(files);
              if (java.util.Arrays.equals(now, seen)) return;
              try {
                load.run();
                System.arraycopy(now, 0, seen, 0, now.length);
                LOG.info("reloaded TLS files " + files);
              } catch (IOException | GeneralSecurityException | RuntimeException e) {
                LOG.warn("cannot reload TLS files " + files + " (keeping the previous ones): " + e);
              }
            },
            reloadSeconds,
            reloadSeconds,
            TimeUnit.SECONDS);
    return () -> future.cancel(false);
  }

  private static long[] stamp(List<Path> files) {
    long[] out = new long[files.size() * 2];
    for (int i = 0; i < files.size(); i++) {
      File f = files.get(i).toFile();
      out[2 * i] = f.lastModified();
      out[2 * i + 1] = f.length();
    }
    return out;
  }

  private static void closeAll(List<Closeable> cs) {
    for (Closeable c : cs) {
      try {
        c.close();
      } catch (IOException ignored) {
        // stopping a scheduled reload cannot meaningfully fail
      }
    }
  }
}
