package tandem.common.security;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token-file reloads (issue 15): deleting the file revokes its tokens; reloads and failures are
 * logged, no token.
 */
class BearerTokenAuthTest {
  @TempDir Path dir;

  @Test
  void deletingTheTokenFileRevokesItsTokensAndReloadsAreLoggedWithoutTokenValues()
      throws Exception {
    List<String> log = new ArrayList<>();
    Handler h =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            log.add(r.getLevel() + " " + r.getMessage());
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    Logger logger = Logger.getLogger(BearerTokenAuth.class.getName());
    logger.addHandler(h);
    try {
      Path file = dir.resolve("tokens");
      Files.writeString(file, "s3cret-one\ns3cret-two\n");
      BearerTokenAuth auth = new BearerTokenAuth(file, List.of("fixed-t0ken"));
      assertTrue(auth.allowed("s3cret-one"));

      Files.delete(file);
      assertFalse(auth.allowed("s3cret-one"), "a deleted file's tokens are revoked");
      assertFalse(auth.allowed("s3cret-two"));
      assertTrue(auth.allowed("fixed-t0ken"), "tokens from the variable are not the file's");

      Files.writeString(file, "s3cret-three\n");
      assertTrue(auth.allowed("s3cret-three"), "the file is read again once it is back");
      assertFalse(auth.allowed("s3cret-one"));

      String all = String.join("\n", log);
      assertTrue(all.contains("loaded the token file") && all.contains("2 tokens"), all);
      assertTrue(all.contains("is gone") && all.contains("revoked"), all);
      assertTrue(all.contains("reloaded the token file") && all.contains("1 tokens"), all);
      for (String secret : List.of("s3cret", "fixed-t0ken"))
        assertFalse(all.contains(secret), "a token was logged: " + all);
    } finally {
      logger.removeHandler(h);
    }
  }

  /**
   * A token swapped for another of the same length within one tick of the file's clock keeps the
   * modification time: the file read in that tick is read again, so the old token is revoked.
   */
  @Test
  void aTokenReplacedWithinTheSameModificationTimeIsRevoked() throws Exception {
    Path file = dir.resolve("tokens");
    Files.writeString(file, "token-aaaa\n");
    java.nio.file.attribute.FileTime t = Files.getLastModifiedTime(file);
    BearerTokenAuth auth = new BearerTokenAuth(file, List.of());
    assertTrue(auth.allowed("token-aaaa"));
    Files.writeString(file, "token-bbbb\n");
    Files.setLastModifiedTime(file, t); // as a coarse clock or `cp -p` would leave it
    assertFalse(auth.allowed("token-aaaa"), "the replaced token still passes");
    assertTrue(auth.allowed("token-bbbb"));
  }
}
