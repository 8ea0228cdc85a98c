package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Every serve command's network flags lie over the environment, checked up front and named when
 * malformed.
 */
class ConnectionOptionsTest {
  @Command(name = "serve-something", modelTransformer = Serve.Flags.class)
  static final class Serve implements Runnable {
    static final class Flags implements CommandLine.IModelTransformer {
      @Override
      public CommandSpec transform(CommandSpec spec) {
        return SettingOptions.addTo(spec, ConnectionOptions.REGISTRY);
      }
    }

    @Mixin ConnectionOptions connections = new ConnectionOptions();

    @Override
    public void run() {}
  }

  private static Map<String, String> overlay(Map<String, String> env, String... args) {
    Serve s = new Serve();
    new CommandLine(s).parseArgs(args);
    return s.connections.overlay(env);
  }

  @Test
  void flagsLieOverTheirVariables() {
    Map<String, String> m =
        overlay(
            Map.of("TANDEM_KEEPALIVE_SECONDS", "30", "TANDEM_HEALTH_PORT", "50050", "OTHER", "x"),
            "--keepalive-seconds",
            "15",
            "--max-connection-age-seconds=0",
            "--tls-reload-seconds",
            "5");
    assertEquals("15", m.get("TANDEM_KEEPALIVE_SECONDS"));
    assertEquals("0", m.get("TANDEM_MAX_CONNECTION_AGE_SECONDS"));
    assertEquals("5", m.get("TANDEM_TLS_RELOAD_SECONDS"));
    assertEquals("50050", m.get("TANDEM_HEALTH_PORT"));
    assertEquals("x", m.get("OTHER"));
  }

  @Test
  void aMalformedFlagIsNamedWithWhatIsAllowed() {
    UserError e =
        assertThrows(UserError.class, () -> overlay(Map.of(), "--keepalive-seconds", "0"));
    assertEquals("--keepalive-seconds=0: must be >= 1", e.getMessage());
    e = assertThrows(UserError.class, () -> overlay(Map.of(), "--tls-client-auth", "maybe"));
    assertEquals(
        "--tls-client-auth=maybe: tls-client-auth maybe is not allowed (allowed: none, optional,"
            + " require)",
        e.getMessage());
  }

  @Test
  void theAllInOneServerTakesThemToo() {
    String usage = new CommandLine(new ServeCommand()).getUsageMessage();
    for (String flag :
        new String[] {
          "--keepalive-seconds",
          "--health-port",
          "--shutdown-grace-seconds",
          "--tls-cert",
          "--model",
          "--port",
          "--http-port",
          "--device",
          "--metrics-port",
          "--trace-log"
        }) {
      // the flag itself, not a longer one that ends with it (--port in --http-port)
      assertTrue(
          java.util.regex.Pattern.compile("(^|[\\s\\[,])" + flag + "[=\\s,\\]]")
              .matcher(usage)
              .find(),
          flag + " missing from:\n" + usage);
    }
  }
}
