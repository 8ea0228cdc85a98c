package tandem.cli;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.util.CertificateUtils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.Map;
import picocli.CommandLine.Option;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;

/**
 * How the client commands ({@code vlm chat}, {@code vlm bench decode|chat|vision|soak --server})
 * reach a server: a picocli mixin with the TLS and bearer-token options, and the one place that
 * builds their channels. Plaintext and no token unless asked, like the servers' localhost default
 * (docs/security.md).
 */
public final class ClientOptions {
  @Option(
      names = "--tls",
      description =
          "Connect with TLS, trusting the system's CAs (implied by the other --tls-* options).")
  boolean tls;

  @Option(
      names = "--tls-ca",
      paramLabel = "FILE",
      description = "PEM CA bundle to trust instead of the system's.")
  Path ca;

  @Option(
      names = "--tls-cert",
      paramLabel = "FILE",
      description = "PEM client certificate chain for mTLS (with --tls-key).")
  Path cert;

  @Option(
      names = "--tls-key",
      paramLabel = "FILE",
      description = "PKCS#8 PEM private key of --tls-cert (BEGIN PRIVATE KEY).")
  Path key;

  @Option(
      names = "--tls-authority",
      paramLabel = "NAME",
      description =
          "Host name the server's certificate must carry when it differs from the address (e.g."
              + " through kubectl port-forward).")
  String authority;

  @Option(
      names = "--token",
      paramLabel = "TOKEN",
      description =
          "Bearer token to send (default: $"
              + ServiceDefaults.ENV_CLIENT_TOKEN
              + ", which keeps it out of shell history).")
  String token;

  /** Whether any TLS option was given: the channel then speaks TLS. */
  public boolean tlsRequested() {
    return tls || ca != null || cert != null || key != null || authority != null;
  }

  /**
   * For a command path that dials no TLS server (a loopback embedded server): TLS options are a
   * mistake there.
   */
  public void rejectTls(String why) {
    if (tlsRequested())
      throw new UserError("--tls, --tls-ca, --tls-cert, --tls-key and --tls-authority need " + why);
  }

  /**
   * For a command path that opens no network channel at all (an in-process server): no option
   * applies.
   */
  public void rejectAll(String why) {
    rejectTls(why);
    if (token != null) throw new UserError("--token needs " + why);
  }

  /** A channel to {@code target} (host:port) with these options; the caller shuts it down. */
  public ManagedChannel open(String target) {
    return open(target, System.getenv());
  }

  ManagedChannel open(String target, Map<String, String> env) {
    String bearer = token(token, env);
    ChannelCredentials creds = credentials();
    NettyChannelBuilder b =
        NettyChannelBuilder.forTarget(target, creds)
            .maxInboundMessageSize(CommonSettings.MAX_MESSAGE_BYTES.defaultValue());
    if (authority != null)
      b.overrideAuthority(authority); // checked against the certificate instead of the address
    if (bearer != null) {
      if (!tlsRequested() && !loopback(target)) {
        System.err.println(
            "vlm: warning: sending the bearer token to "
                + target
                + " without TLS (add --tls or --tls-ca)");
      }
      Metadata h = new Metadata();
      h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + bearer);
      b.intercept(MetadataUtils.newAttachHeadersInterceptor(h));
    }
    return b.build();
  }

  /**
   * The token to send: {@code --token}, else TANDEM_CLIENT_TOKEN, else none (null). A header value
   * must be visible ASCII, and a bearer token has no spaces.
   */
  static String token(String flag, Map<String, String> env) {
    String source = "--token";
    String t = flag;
    if (t == null) {
      t = env.get(ServiceDefaults.ENV_CLIENT_TOKEN);
      source = ServiceDefaults.ENV_CLIENT_TOKEN;
      if (t == null || t.isBlank()) return null;
    }
    t = t.strip();
    if (t.isEmpty()) throw new UserError(source + " is empty");
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c < 0x21 || c > 0x7e) {
        throw new UserError(
            source
                + " must be one word of visible ASCII characters (a bearer token); character "
                + (i + 1)
                + " is "
                + (c == ' ' ? "a space" : String.format("U+%04X", (int) c)));
      }
    }
    return t;
  }

  /**
   * Plaintext, or TLS from the files, each checked first so a mistake is one clear line and not a
   * handshake error.
   */
  ChannelCredentials credentials() {
    if (!tlsRequested()) return InsecureChannelCredentials.create();
    if ((cert == null) != (key == null)) {
      throw new UserError(
          "give --tls-cert and --tls-key together (the client certificate and its key)");
    }
    try {
      TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
      if (ca != null) {
        certificates("--tls-ca", ca);
        b.trustManager(ca.toFile());
      }
      if (cert != null) {
        X509Certificate[] chain = certificates("--tls-cert", cert);
        checkKeyMatches(chain[0], privateKey(key));
        b.keyManager(cert.toFile(), key.toFile());
      }
      return b.build();
    } catch (IOException e) {
      throw new UserError("cannot read the TLS files: " + e.getMessage());
    }
  }

  static X509Certificate[] certificates(String option, Path file) {
    try (InputStream in = readable(option, file)) {
      X509Certificate[] certs = CertificateUtils.getX509Certificates(in);
      if (certs.length == 0)
        throw new UserError(option + " " + file + ": no PEM certificate in it (BEGIN CERTIFICATE)");
      return certs;
    } catch (GeneralSecurityException | IOException e) {
      throw new UserError(option + " " + file + ": not a PEM certificate (" + e.getMessage() + ")");
    }
  }

  static PrivateKey privateKey(Path file) {
    try (InputStream in = readable("--tls-key", file)) {
      return CertificateUtils.getPrivateKey(in);
    } catch (GeneralSecurityException | IOException | RuntimeException e) {
      String pem = "";
      try {
        pem = Files.readString(file, StandardCharsets.US_ASCII);
      } catch (IOException ignored) {
        // the message below is clear enough without the hint
      }
      String hint =
          pem.contains("BEGIN RSA PRIVATE KEY") || pem.contains("BEGIN EC PRIVATE KEY")
              ? "; convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
              : "";
      throw new UserError(
          "--tls-key " + file + ": not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)" + hint);
    }
  }

  private static InputStream readable(String option, Path file) throws IOException {
    if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
      throw new UserError(option + " " + file + ": no readable file there");
    }
    return Files.newInputStream(file);
  }

  /**
   * Signs a few bytes with the key and verifies them with the certificate: a swapped key fails
   * here, not mid-handshake.
   */
  static void checkKeyMatches(X509Certificate cert, PrivateKey key) {
    String alg =
        switch (key.getAlgorithm()) {
          case "EC" -> "SHA256withECDSA";
          case "RSA" -> "SHA256withRSA";
          case "Ed25519", "EdDSA" -> "Ed25519";
          default -> null;
        };
    if (alg == null) return; // an unusual key type: leave the check to the handshake
    boolean match;
    try {
      byte[] probe = "tandem".getBytes(StandardCharsets.US_ASCII);
      Signature s = Signature.getInstance(alg);
      s.initSign(key);
      s.update(probe);
      byte[] sig = s.sign();
      Signature v = Signature.getInstance(alg);
      v.initVerify(cert.getPublicKey());
      v.update(probe);
      match = v.verify(sig);
    } catch (GeneralSecurityException e) {
      match = false;
    }
    if (!match) throw new UserError("--tls-key does not belong to the certificate in --tls-cert");
  }

  private static boolean loopback(String target) {
    String t = target.startsWith("dns:///") ? target.substring(7) : target;
    return t.startsWith("localhost:")
        || t.startsWith("127.")
        || t.startsWith("[::1]:")
        || t.equals("localhost");
  }

  /**
   * Whether retrying cannot help: the server refused the credentials, or the TLS handshake failed
   * (an untrusted or mismatched certificate stays so).
   */
  public static boolean permanent(StatusRuntimeException e) {
    io.grpc.Status.Code c = e.getStatus().getCode();
    if (c == io.grpc.Status.Code.UNAUTHENTICATED || c == io.grpc.Status.Code.PERMISSION_DENIED)
      return true;
    for (Throwable t = e.getStatus().getCause(); t != null && t.getCause() != t; t = t.getCause()) {
      if (t instanceof javax.net.ssl.SSLException) return true;
    }
    return false;
  }

  /**
   * A failed call as one line for {@code vlm: error:}: the status, the transport's root cause when
   * this client's connection failed (that is where a certificate problem is named), and a hint when
   * the TLS setting looks wrong.
   */
  public String describe(StatusRuntimeException e) {
    String line = statusLine(e);
    if (e.getStatus().getCode() != io.grpc.Status.Code.UNAVAILABLE) return line;
    for (Throwable t = e.getStatus().getCause(); t != null && t.getCause() != t; t = t.getCause()) {
      if (t.getClass().getSimpleName().equals("NotSslRecordException")) {
        return line + "; the server speaks plaintext: drop the --tls options";
      }
      if (t instanceof javax.net.ssl.SSLException) {
        return line
            + "; the TLS handshake failed: --tls-ca must name the CA of the server's certificate,"
            + " which must name the host dialled";
      }
    }
    // a TLS server hangs up on the plaintext HTTP/2 preface (closed or reset, no reason given); a
    // refused connection
    // is a different story (nothing listens there)
    String d = e.getStatus().getDescription();
    boolean hungUp =
        (d != null && d.startsWith("Network closed for unknown reason"))
            || e.getStatus().getCause() != null;
    for (Throwable t = e.getStatus().getCause(); t != null && t.getCause() != t; t = t.getCause()) {
      if (t instanceof java.net.ConnectException) hungUp = false;
    }
    return !tlsRequested() && hungUp
        ? line + "; if the server speaks TLS, add --tls (or --tls-ca FILE)"
        : line;
  }

  /**
   * Status code, description and the transport's root cause, without hints (for code that has no
   * options).
   */
  public static String statusLine(StatusRuntimeException e) {
    StringBuilder sb = new StringBuilder(e.getStatus().getCode().toString());
    String d = e.getStatus().getDescription();
    if (d != null) {
      int noise = d.indexOf("Channel Pipeline:"); // Netty's handler list adds nothing for a user
      sb.append(": ").append((noise >= 0 ? d.substring(0, noise) : d).strip());
    }
    Throwable root = e.getStatus().getCause();
    while (root != null && root.getCause() != null && root.getCause() != root)
      root = root.getCause();
    if (root != null && root.getMessage() != null) {
      sb.append(" (")
          .append(root.getClass().getSimpleName())
          .append(": ")
          .append(root.getMessage())
          .append(')');
    }
    return sb.toString();
  }
}
