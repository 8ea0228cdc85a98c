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
   * A port nobody listens on right now (the usual small race with other processes is acceptable in
   * tests).
   */
  public static int freePort() throws IOException {
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
