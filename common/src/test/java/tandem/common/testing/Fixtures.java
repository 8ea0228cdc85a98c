package tandem.common.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the reference fixtures copied from {@code ../shared/fixtures} into {@code
 * common/src/test/resources}. Works from any module's test run (Maven sets the working directory to
 * the module).
 */
public final class Fixtures {
  private Fixtures() {}

  private static final String REL = "common/src/test/resources/fixtures";

  /** The fixtures folder; fails loudly when it cannot be found. */
  public static Path root() {
    Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    for (Path p = dir; p != null; p = p.getParent()) {
      Path candidate = p.resolve(REL);
      if (Files.isDirectory(candidate)) return candidate;
    }
    throw new IllegalStateException("fixtures not found: no " + REL + " above " + dir);
  }

  public static Path path(String relative) {
    Path p = root().resolve(relative);
    if (!Files.exists(p)) throw new IllegalStateException("missing fixture file " + p);
    return p;
  }
}
