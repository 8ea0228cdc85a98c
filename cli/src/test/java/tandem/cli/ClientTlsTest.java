package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.security.TlsSettings;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.ChatRequests;
import tandem.common.testing.TestCerts;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderSettings;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.types.v1.GenerationParams;

/**
 * The client side of a secured gateway: `vlm chat --server` against the all-in-one server started
 * as `vlm serve` starts it with TLS, required client certificates and bearer tokens (the same
 * TANDEM_* variables), on the regenerated vlm-tiny checkpoint. Also the options' own checks, which
 * fail before anything is dialed.
 */
class ClientTlsTest {
  static final String TOKEN = "s3cret-token";
  @TempDir static Path pki;
  static TestCerts.Pem ca;
  static TestCerts.Pem client;
  static AllInOne server;
  static String address;

  @BeforeAll
  static void start() throws Exception {
    ca = TestCerts.ca(pki, "ca");
    TestCerts.Pem serverCert = TestCerts.leaf(pki, "server", ca);
    client = TestCerts.leaf(pki, "client", ca);
    Map<String, String> env = new HashMap<>();
    env.put(CommonSettings.TLS_CERT.env(), serverCert.cert().toString());
    env.put(CommonSettings.TLS_KEY.env(), serverCert.key().toString());
    env.put(CommonSettings.TLS_CLIENT_CA.env(), ca.cert().toString());
    env.put(CommonSettings.TLS_CLIENT_AUTH.env(), "require");
    env.put(CommonSettings.AUTH_TOKENS.env(), TOKEN);
    env.put(DecoderSettings.MAX_BATCH.env(), "2");
    env.put(DecoderSettings.MAX_SEQ_LEN.env(), "512");
    env.put(CommonSettings.SHUTDOWN_GRACE_SECONDS.env(), "1");
    // exactly what ServeCommand does with these variables
    var creds = TlsSettings.serverFromEnv(new Env(env)).serverCredentials().credentials();
    server =
        AllInOne.start(
            TinyCheckpoints.vlmTiny(),
            "cpu",
            env,
            Grpc.newServerBuilderForPort(0, creds),
            Telemetry.noop());
    address = "localhost:" + server.port();
  }

  @AfterAll
  static void stop() {
    if (server != null) server.close();
  }

  static VlmRun chat(String... options) {
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "chat", "--server", address, "--json", "--max-new-tokens", "3", "--timeout", "60"));
    args.addAll(List.of(options));
    args.add("hello");
    return VlmRun.of(args.toArray(String[]::new));
  }

  String[] mtls() {
    return new String[] {
      "--tls-ca",
      ca.cert().toString(),
      "--tls-cert",
      client.cert().toString(),
      "--tls-key",
      client.key().toString()
    };
  }

  static String[] with(String[] a, String... more) {
    String[] out = java.util.Arrays.copyOf(a, a.length + more.length);
    System.arraycopy(more, 0, out, a.length, more.length);
    return out;
  }

  @Test
  void chatOverTlsWithAClientCertificateAndTheRightTokenStreamsAnAnswer() {
    VlmRun r = chat(with(mtls(), "--token", TOKEN));
    assertEquals(0, r.code(), r.err());
    JsonObject sum = JsonParser.parseString(r.lastLine()).getAsJsonObject();
    assertEquals(3, sum.getAsJsonObject("usage").get("completion_tokens").getAsInt(), r.out());
  }

  @Test
  void aWrongTokenIsOneClearUnauthenticatedLine() {
    VlmRun r = chat(with(mtls(), "--token", "not-the-token"));
    assertEquals(2, r.code(), r.out());
    assertEquals("vlm: error: UNAUTHENTICATED: the bearer token is not valid", r.err().strip());
  }

  @Test
  void noTokenIsRefusedSayingWhatToSend() {
    VlmRun r = chat(mtls());
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: UNAUTHENTICATED: missing authorization header"), r.err());
  }

  @Test
  void withoutAClientCertificateTheGatewayThatRequiresOneSaysSo() {
    VlmRun r = chat("--tls-ca", ca.cert().toString(), "--token", TOKEN);
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: UNAUTHENTICATED: ") && r.err().contains("certificate"),
        r.err());
  }

  @Test
  void plaintextAgainstTheTlsPortFailsWithAHintToUseTls() {
    VlmRun r = chat("--token", TOKEN);
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: UNAVAILABLE") && r.err().contains("add --tls"), r.err());
    assertEquals(1, r.err().strip().split("\n").length, r.err());
  }

  @Test
  void tlsWithTheSystemTrustStoreRefusesTheTestCaCertificate() {
    VlmRun r = chat("--tls", "--token", TOKEN);
    assertEquals(2, r.code());
    assertTrue(
        r.err()
                .startsWith(
                    "vlm: error: UNAVAILABLE: io exception (SunCertPathBuilderException: unable to"
                        + " find valid certification path")
            && r.err().contains("the TLS handshake failed: --tls-ca"),
        r.err());
  }

  @Test
  void theCertificateIsCheckedAgainstTheTlsAuthorityWhenOneIsGiven() {
    // the server's certificate names localhost and 127.0.0.1 only
    VlmRun wrong = chat(with(mtls(), "--token", TOKEN, "--tls-authority", "gateway.example.com"));
    assertEquals(2, wrong.code());
    assertTrue(
        wrong.err().contains("gateway.example.com") && wrong.err().contains("TLS handshake failed"),
        wrong.err());
    VlmRun right = chat(with(mtls(), "--token", TOKEN, "--tls-authority", "localhost"));
    assertEquals(0, right.code(), right.err());
  }

  @Test
  void tlsAgainstAPlaintextServerSaysToDropTheTlsOptions() throws Exception {
    io.grpc.Server plain =
        Grpc.newServerBuilderForPort(0, io.grpc.InsecureServerCredentials.create())
            .addService(new ChatServiceGrpc.ChatServiceImplBase() {})
            .build()
            .start();
    try {
      VlmRun r =
          VlmRun.of(
              "chat",
              "--server",
              "localhost:" + plain.getPort(),
              "--tls-ca",
              ca.cert().toString(),
              "hi");
      assertEquals(2, r.code());
      assertTrue(
          r.err().startsWith("vlm: error: UNAVAILABLE")
              && r.err().contains("drop the --tls options"),
          r.err());
    } finally {
      plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void theTokenCanComeFromTheEnvironmentInsteadOfTheCommandLine() throws Exception {
    ClientOptions o = new ClientOptions();
    new CommandLine(o).parseArgs(mtls());
    ManagedChannel ch = o.open(address, Map.of(ServiceDefaults.ENV_CLIENT_TOKEN, TOKEN));
    try {
      ChatRequest req =
          ChatRequests.user("hi")
              .setParams(GenerationParams.newBuilder().setMaxNewTokens(2))
              .build();
      var it =
          ChatServiceGrpc.newBlockingStub(ch).withDeadlineAfter(60, TimeUnit.SECONDS).chat(req);
      ChatChunk last = null;
      while (it.hasNext()) last = it.next();
      assertTrue(last != null && last.hasFinal(), "the stream ended with its final chunk");
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  static Stream<Arguments> tokens() {
    Map<String, String> env = Map.of(ServiceDefaults.ENV_CLIENT_TOKEN, "from-env");
    return Stream.of(
        Arguments.of(null, Map.of(), null),
        Arguments.of("flag", Map.of(), "flag"),
        Arguments.of(null, env, "from-env"),
        Arguments.of("flag", env, "flag"),
        Arguments.of(" padded ", Map.of(), "padded"),
        Arguments.of(null, Map.of(ServiceDefaults.ENV_CLIENT_TOKEN, " "), null));
  }

  @ParameterizedTest
  @MethodSource("tokens")
  void theTokenIsTheFlagElseTheVariableElseNone(
      String flag, Map<String, String> env, String expected) {
    assertEquals(expected, ClientOptions.token(flag, env));
  }

  @ParameterizedTest
  @MethodSource("badTokens")
  void aTokenThatCannotBeAHeaderIsRefusedNamingWhy(String flag, String message) {
    var e = assertThrows(UserError.class, () -> ClientOptions.token(flag, Map.of()));
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  static Stream<Arguments> badTokens() {
    return Stream.of(
        Arguments.of("", "--token is empty"),
        Arguments.of("two words", "character 4 is a space"),
        Arguments.of("tök", "character 2 is U+00F6"));
  }

  /** Files the options point at, each wrong in one way. */
  static Stream<Arguments> badFiles() throws Exception {
    // under the class's @TempDir (set before any method source runs), so JUnit deletes it
    Path dir = Files.createDirectories(pki.resolve("bad-tls"));
    Path text = Files.writeString(dir.resolve("notes.txt"), "not a certificate\n");
    TestCerts.Pem otherCa = TestCerts.ca(dir, "other");
    StringWriter sw = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
      w.writeObject(otherCa.privateKey()); // traditional "BEGIN EC PRIVATE KEY", not PKCS#8
    }
    Path traditional = Files.writeString(dir.resolve("ec.key"), sw.toString());
    TestCerts.Pem theCa = ca;
    TestCerts.Pem theClient = client;
    return Stream.of(
        Arguments.of(
            List.of("--tls-ca", dir.resolve("missing.crt").toString()),
            "--tls-ca " + dir.resolve("missing.crt") + ": no readable file there"),
        Arguments.of(List.of("--tls-ca", text.toString()), "--tls-ca " + text + ": "),
        Arguments.of(
            List.of("--tls-cert", theClient.cert().toString()),
            "give --tls-cert and --tls-key together"),
        Arguments.of(
            List.of("--tls-cert", theClient.cert().toString(), "--tls-key", text.toString()),
            "not a PKCS#8 PEM private key"),
        Arguments.of(
            List.of("--tls-cert", theClient.cert().toString(), "--tls-key", traditional.toString()),
            "openssl pkcs8 -topk8"),
        Arguments.of(
            List.of("--tls-cert", theClient.cert().toString(), "--tls-key", theCa.key().toString()),
            "--tls-key does not belong to the certificate in --tls-cert"));
  }

  @ParameterizedTest
  @MethodSource("badFiles")
  void aBadTlsFileIsOneErrorLineAndExitTwoBeforeAnythingIsDialed(
      List<String> options, String message) {
    VlmRun r =
        VlmRun.of(
            Stream.concat(
                    Stream.of("chat", "--server", "localhost:1"),
                    Stream.concat(options.stream(), Stream.of("hi")))
                .toArray(String[]::new));
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().startsWith("vlm: error: ") && r.err().contains(message), r.err());
    assertEquals(1, r.err().strip().split("\n").length, r.err());
  }

  /** Every client command takes the same options through the same helper. */
  static Stream<Arguments> clientCommands() {
    String model = TinyCheckpoints.vlmTiny().toString();
    return Stream.of(
        Arguments.of(List.of("bench", "decode", "--server", "localhost:1")),
        Arguments.of(List.of("bench", "vision", "--server", "localhost:1")),
        Arguments.of(
            List.of(
                "bench",
                "chat",
                "--model",
                model,
                "--server",
                "localhost:1",
                "--decoder",
                "localhost:2")),
        Arguments.of(List.of("bench", "soak", "--server", "localhost:1", "--minutes", "0.01")));
  }

  @ParameterizedTest
  @MethodSource("clientCommands")
  void everyClientCommandChecksItsTlsFilesTheSameWay(List<String> command) {
    Path missing = pki.resolve("nope.crt");
    VlmRun r =
        VlmRun.of(
            Stream.concat(command.stream(), Stream.of("--tls-ca", missing.toString()))
                .toArray(String[]::new));
    assertEquals(2, r.code(), r.err());
    assertEquals("vlm: error: --tls-ca " + missing + ": no readable file there", r.err().strip());
  }

  @Test
  void nothingListeningIsUnavailableWithoutATlsHint() throws Exception {
    int port = tandem.common.testing.TlsTestEnv.freePort();
    VlmRun r = VlmRun.of("chat", "--server", "localhost:" + port, "hi");
    assertEquals(2, r.code());
    assertTrue(
        r.err().startsWith("vlm: error: UNAVAILABLE") && !r.err().contains("--tls"), r.err());
  }

  @Test
  void tlsOptionsWithoutAServerAreRefusedRatherThanIgnored() {
    VlmRun r = VlmRun.of("bench", "decode", "--model", pki.toString(), "--tls");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("need --server"), r.err());
  }
}
