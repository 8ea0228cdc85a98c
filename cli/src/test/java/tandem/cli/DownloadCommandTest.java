package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import tandem.common.testing.FakeHub;

/**
 * {@code vlm download} end to end against the Hub stand-in: exit codes, stdout contract, progress
 * on stderr.
 */
class DownloadCommandTest {
  static final String REPO = "tandem-test/tiny-vlm";
  static final String COMMIT = "89abcdef0123456789abcdef0123456789abcdef";

  @TempDir Path tmp;
  FakeHub hub;
  Map<String, byte[]> files;
  final StringWriter out = new StringWriter();
  final StringWriter err = new StringWriter();
  final ByteArrayOutputStream progress = new ByteArrayOutputStream();
  final Map<String, String> env = new HashMap<>();

  @BeforeEach
  void start() throws Exception {
    hub = new FakeHub();
    files = FakeHub.smallModelFiles(11);
    hub.addRepo(REPO, COMMIT, files);
    env.put("HF_ENDPOINT", hub.endpoint().toString());
    env.put("HF_HOME", tmp.resolve("hf-home").toString());
  }

  @AfterEach
  void stop() {
    hub.close();
  }

  int run(String... args) {
    CommandLine cl = Vlm.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    DownloadCommand dc = (DownloadCommand) cl.getSubcommands().get("download").getCommand();
    dc.env = env;
    dc.progress = new PrintStream(progress, true, StandardCharsets.UTF_8);
    return cl.execute(args);
  }

  String lastStdoutLine() {
    String[] lines = out.toString().strip().split("\n");
    return lines[lines.length - 1];
  }

  @Test
  void downloadPrintsTheSnapshotPathLastAndProgressOnStderr() throws Exception {
    assertEquals(0, run("download", REPO), err.toString());
    Path snap = Path.of(lastStdoutLine());
    assertEquals(
        tmp.resolve("hf-home/hub/models--tandem-test--tiny-vlm/snapshots/" + COMMIT)
            .toAbsolutePath(),
        snap);
    assertArrayEquals(
        files.get("model.safetensors"), Files.readAllBytes(snap.resolve("model.safetensors")));
    String p = progress.toString(StandardCharsets.UTF_8);
    assertTrue(p.contains("is commit " + COMMIT + ": 7 file(s)"), p);
    assertTrue(p.contains("snapshot complete"), p);
  }

  @Test
  void dirChoosesTheCacheRootAndIncludeAddsFiles() throws Exception {
    Path root = tmp.resolve("my-cache");
    assertEquals(
        0,
        run("download", REPO, "--dir", root.toString(), "--include", "*.bin", "--revision", COMMIT),
        err.toString());
    Path snap = Path.of(lastStdoutLine());
    assertEquals(
        root.resolve("models--tandem-test--tiny-vlm/snapshots/" + COMMIT).toAbsolutePath(), snap);
    assertTrue(Files.exists(snap.resolve("pytorch_model.bin")));
  }

  @Test
  void aPrivateRepoWithoutTokenIsOneLineAndExitCode2() {
    hub.requireToken("hf_secret");
    assertEquals(2, run("download", REPO));
    String e = err.toString().strip();
    assertTrue(e.startsWith("vlm: error: "), e);
    assertTrue(e.contains("HF_TOKEN"), e);
    assertEquals(1, e.split("\n").length, e);

    env.put("HF_TOKEN", "hf_secret");
    err.getBuffer().setLength(0);
    assertEquals(0, run("download", REPO), err.toString());
  }

  @Test
  void offlineWithACompleteCacheNeedsNoNetwork() {
    assertEquals(0, run("download", REPO));
    String first = lastStdoutLine();
    hub.close();
    env.put("HF_HUB_OFFLINE", "1");
    assertEquals(0, run("download", REPO), err.toString());
    assertEquals(first, lastStdoutLine());
  }

  @Test
  void badInputIsExplainedWithExitCode2() {
    assertEquals(2, run("download", "not/a/repo"));
    assertTrue(err.toString().contains("is not a repository id"), err.toString());
    err.getBuffer().setLength(0);
    assertEquals(2, run("download", REPO + "@v1", "--revision", "v2"));
    assertTrue(err.toString().contains("revision given twice"), err.toString());
  }
}
