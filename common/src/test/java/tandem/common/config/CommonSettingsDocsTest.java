package tandem.common.config;

import org.junit.jupiter.api.Test;
import tandem.common.testing.SettingsDocs;

/** docs/security.md lists every network and security setting as the registries declare them. */
class CommonSettingsDocsTest {
  @Test
  void theSecurityPageTablesAreTheRegistries() throws Exception {
    SettingsDocs.assertTableIsCurrent(
        SettingsDocs.page("security.md"), "network", CommonSettings.NETWORK);
    SettingsDocs.assertTableIsCurrent(
        SettingsDocs.page("security.md"), "security", CommonSettings.SECURITY);
  }
}
