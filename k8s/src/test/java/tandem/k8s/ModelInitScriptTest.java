package tandem.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tandem.common.testing.NodeScripts;

/**
 * k8s/docker/model-init, the chart's download step, run with a stand-in for `vlm download` (issue
 * 8) that prints a snapshot folder last on stdout, as the real command does.
 */
class ModelInitScriptTest {
  static final Path SCRIPT = Chart.MODULE.resolve("docker/model-init");

  @Test
  void itLinksTheDownloadedSnapshotAndRelinksAtomicallyOnANewRevision(@TempDir Path tmp)
      throws IOException {
    Path cache = tmp.resolve("models");
    Path link = cache.resolve("by-repo/org--name");
    Path first = snapshot(cache, "aaa");
    assertEquals(
        0,
        run(
                tmp,
                stub(tmp, "progress line\n" + first),
                "org/name",
                cache.toString(),
                link.toString())
            .exitCode());
    assertEquals(first, Files.readSymbolicLink(link));
    assertTrue(Files.isRegularFile(link.resolve("config.json")));

    Path second = snapshot(cache, "bbb");
    NodeScripts.Result again =
        run(tmp, stub(tmp, second.toString()), "org/name", cache.toString(), link.toString());
    assertEquals(0, again.exitCode(), again.output());
    assertEquals(second, Files.readSymbolicLink(link));
    try (var files = Files.list(link.getParent())) {
      assertEquals(
          List.of("org--name"),
          files.map(p -> p.getFileName().toString()).toList(),
          "no temp link left");
    }
  }

  @Test
  void itFailsWhenTheDownloadDoesNotEndWithACheckpointFolder(@TempDir Path tmp) throws IOException {
    Path cache = tmp.resolve("models");
    Files.createDirectories(cache.resolve("empty"));
    NodeScripts.Result r =
        run(
            tmp,
            stub(tmp, cache.resolve("empty").toString()),
            "org/name",
            cache.toString(),
            cache.resolve("by-repo/org--name").toString());
    assertEquals(1, r.exitCode());
    assertTrue(r.output().contains("did not end with a checkpoint folder"), r.output());
    assertTrue(
        Files.notExists(
            cache.resolve("by-repo/org--name"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void aFailingDownloadFailsTheStep(@TempDir Path tmp) throws IOException {
    Path vlm = tmp.resolve("vlm-fails");
    Files.writeString(vlm, "#!/bin/sh\necho 'vlm: error: 401 from the Hub' >&2\nexit 2\n");
    vlm.toFile().setExecutable(true);
    NodeScripts.Result r =
        run(tmp, vlm, "org/name", tmp.toString(), tmp.resolve("link").toString());
    assertTrue(r.exitCode() != 0, r.output());
    assertTrue(r.output().contains("401"), r.output());
  }

  static Path snapshot(Path cache, String commit) throws IOException {
    Path s = cache.resolve("models--org--name/snapshots/" + commit);
    Files.createDirectories(s);
    Files.writeString(s.resolve("config.json"), "{}");
    return s;
  }

  /**
   * A `vlm` that ignores its arguments and prints the given text (the last line being the
   * snapshot).
   */
  static Path stub(Path dir, String stdout) throws IOException {
    Path vlm = Files.createTempFile(dir, "vlm", ".sh");
    Files.writeString(vlm, "#!/bin/sh\ncat <<'OUT'\n" + stdout + "\nOUT\n");
    vlm.toFile().setExecutable(true);
    return vlm;
  }

  static NodeScripts.Result run(Path dir, Path vlm, String... args) {
    String[] cmd = new String[args.length + 3];
    cmd[0] = "env";
    cmd[1] = "VLM=" + vlm;
    cmd[2] = SCRIPT.toString();
    System.arraycopy(args, 0, cmd, 3, args.length);
    return NodeScripts.run(dir, 30, cmd);
  }
}
