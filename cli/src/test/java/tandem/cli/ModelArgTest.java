package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelArgTest {
  @Test
  void aLocalFolderIsUsedAsItIs(@TempDir Path dir) {
    assertEquals(dir.toAbsolutePath(), ModelArg.resolve(dir.toString()));
  }

  @Test
  void aMissingFolderThatIsNoRepoIdIsAUserError(@TempDir Path dir) {
    UserError e =
        assertThrows(UserError.class, () -> ModelArg.resolve(dir.resolve("a/b/c").toString()));
    assertTrue(e.getMessage().contains("not a Hub repository id"), e.getMessage());
  }
}
