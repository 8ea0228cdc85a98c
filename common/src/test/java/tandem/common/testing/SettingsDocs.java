package tandem.common.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tandem.common.config.SettingRegistry;

/**
 * Checks that a docs page's settings table is its registry's: the text between {@code <!--
 * settings:NAME -->} and {@code <!-- /settings:NAME -->} must be {@link
 * SettingRegistry#markdownTable()}. On a mismatch the failure shows the table to paste.
 */
public final class SettingsDocs {
  private SettingsDocs() {}

  /**
   * {@code docs/PAGE} of the repository, from a module's directory (where Maven runs the tests).
   */
  public static Path page(String page) {
    return Path.of("..", "docs", page);
  }

  public static void assertTableIsCurrent(Path page, String name, SettingRegistry registry)
      throws IOException {
    String md = Files.readString(page);
    String open = "<!-- settings:" + name + " -->\n";
    String close = "<!-- /settings:" + name + " -->";
    int a = md.indexOf(open);
    int b = md.indexOf(close);
    assertTrue(
        a >= 0 && b > a,
        page
            + " has no "
            + open.strip()
            + " … "
            + close
            + " section; add one holding:\n"
            + registry.markdownTable());
    assertEquals(
        registry.markdownTable(),
        md.substring(a + open.length(), b),
        page + ": the settings table is not the registry's; replace it with the expected text");
  }
}
