package tandem.common.testing;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Map;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.security.TlsSettings;

/**
 * The environment a Kubernetes pod with TLS gets, made on the spot: a CA, a server certificate for
 * localhost, a client certificate from the same CA, and the TANDEM_TLS_* / TANDEM_HEALTH_PORT
 * variables that require client certificates on the service port and open a plaintext health-only
 * port.
 */
public record TlsTestEnv(
    TestCerts.Pem ca, TestCerts.Pem server, TestCerts.Pem client, int healthPort, Env env) {
  /** Service port with TLS and client certificates required; health-only port on a free port. */
  public static TlsTestEnv mtlsWithHealthPort(Path dir) throws Exception {
    TestCerts.Pem ca = TestCerts.ca(dir, "ca");
    TestCerts.Pem server = TestCerts.leaf(dir, "server", ca);
    TestCerts.Pem client = TestCerts.leaf(dir, "client", ca);
    int health = freePort();
    Env env =
        new Env(
            Map.of(
                CommonSettings.TLS_CERT.env(), server.cert().toString(),
                CommonSettings.TLS_KEY.env(), server.key().toString(),
                CommonSettings.TLS_CLIENT_CA.env(), ca.cert().toString(),
                CommonSettings.TLS_CLIENT_AUTH.env(), "require",
                CommonSettings.HEALTH_PORT.env(), String.valueOf(health)));
    return new TlsTestEnv(ca, server, client, health, env);
  }

  /**
   * A port that is free now and that no server binding port 0 will be given later: it lies below
   * the kernel's ephemeral range, so a server this test starts afterwards on port 0 cannot take it
   * before the test uses it (a port from {@code new ServerSocket(0)} could be handed out again).
   */
  public static int freePort() throws IOException {
    int low = 32768;
    try {
      String range =
          java.nio.file.Files.readString(
              java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range"));
      low = Integer.parseInt(range.trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      // not Linux: keep the usual lower bound of the ephemeral range
    }
    int from = Math.max(1024, low - 12000);
    int span = low - from;
    if (span > 0) {
      int start = java.util.concurrent.ThreadLocalRandom.current().nextInt(span);
      for (int i = 0; i < span; i++) {
        int port = from + (start + i) % span;
        try (ServerSocket s = new ServerSocket(port)) {
          return port;
        } catch (IOException taken) {
          // try the next one
        }
      }
    }
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** TLS trusting the CA, presenting the client certificate or not. */
  public ChannelCredentials tls(boolean withClientCert) throws IOException {
    return new TlsSettings(
            withClientCert ? client.cert() : null,
            withClientCert ? client.key() : null,
            ca.cert(),
            false,
            60)
        .channelCredentials()
        .credentials();
  }

  public static ManagedChannel channel(int port, ChannelCredentials creds) {
    return Grpc.newChannelBuilder("localhost:" + port, creds).build();
  }

  public static ManagedChannel plaintext(int port) {
    return channel(port, InsecureChannelCredentials.create());
  }
}
