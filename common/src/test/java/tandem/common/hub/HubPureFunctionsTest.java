package tandem.common.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Table-driven tests of the parsing and formatting pieces of the Hub download. */
class HubPureFunctionsTest {
  @ParameterizedTest(name = "{0} -> {1} @ {2}")
  @CsvSource({
    "org/name, org/name, main",
    "org/name@v1.0, org/name, v1.0",
    "org/name@refs/pr/1, org/name, refs/pr/1",
    "gpt2, gpt2, main",
    "TalkUHulk/Qwen3-SmVL-256M_0.6B@0123456789abcdef0123456789abcdef01234567,"
        + " TalkUHulk/Qwen3-SmVL-256M_0.6B, 0123456789abcdef0123456789abcdef01234567",
  })
  void repoRefsParseIdAndRevision(String text, String id, String rev) {
    RepoRef r = RepoRef.parse(text);
    assertEquals(id, r.repoId());
    assertEquals(rev, r.revision());
  }

  @ParameterizedTest(name = "{0} is refused")
  @CsvSource({
    "a/b/c",
    "org/na--me",
    "org/..",
    "/abs/path",
    "./local",
    "org/name@../x",
    "org/name@a b",
    "org/",
    "-x/y"
  })
  void malformedRepoRefsAreRefusedWithTheRuleInTheMessage(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> RepoRef.parse(text));
    assertTrue(e.getMessage().contains("expected"), e.getMessage());
  }

  @Test
  void theCacheFolderNameIsPythons() {
    assertEquals(
        "models--HuggingFaceTB--SmolVLM2-256M",
        RepoRef.parse("HuggingFaceTB/SmolVLM2-256M").cacheFolderName());
    assertEquals("models--gpt2", RepoRef.parse("gpt2").cacheFolderName());
  }

  @ParameterizedTest(name = "{0} matches {1}: {2}")
  @CsvSource({
    "*.json, config.json, true",
    "*.json, vision/preprocessor_config.json, true",
    "*.safetensors, model-00001-of-00002.safetensors, true",
    "*.safetensors, model.safetensors.index.json, false",
    "tokenizer*, tokenizer.json, true",
    "tokenizer*, tokenizer.model, true",
    "tokenizer*, sub/tokenizer.json, false",
    "*.bin, pytorch_model.bin, true",
    "model-0000?-of-*.safetensors, model-00002-of-00003.safetensors, true",
    "[!p]*.bin, pytorch_model.bin, false",
    "[ab]*.txt, a.txt, true",
  })
  void globsMatchLikePythonsFnmatch(String glob, String file, boolean expected) {
    assertEquals(expected, new FileSelection(List.of(glob)).matches(file));
  }

  @Test
  void theServingSelectionSkipsPytorchOnnxAndImages() {
    List<String> files =
        List.of(
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "onnx/model.onnx",
            "merges.txt",
            "chat_template.jinja",
            "tokenizer.json",
            "demo.png",
            "README.md",
            "training_args.pt");
    assertEquals(
        List.of(
            "config.json",
            "model.safetensors",
            "merges.txt",
            "chat_template.jinja",
            "tokenizer.json"),
        FileSelection.serving().select(files));
  }

  @ParameterizedTest(name = "{0} bytes -> {1}")
  @CsvSource({
    "0, 0 B",
    "1023, 1023 B",
    "1024, 1.00 KiB",
    "1536, 1.50 KiB",
    "12897485, 12.3 MiB",
    "1288490189, 1.20 GiB",
    "157286400, 150 MiB"
  })
  void sizesPrintInBinaryUnits(long n, String text) {
    assertEquals(text, ProgressFormat.bytes(n));
  }

  @ParameterizedTest(name = "{0} s -> {1}")
  @CsvSource({
    "0, 0s",
    "59.4, 59s",
    "65, 1m05s",
    "3599, 59m59s",
    "3660, 1h01m",
    "NaN, ?",
    "Infinity, ?",
    "-1, ?"
  })
  void durationsPrintCompactly(double s, String text) {
    assertEquals(text, ProgressFormat.duration(s));
  }

  @Test
  void aProgressLineShowsBytesRateAndRemainingTime() {
    assertEquals(
        "50.0 MiB / 100 MiB (50%)  5.00 MiB/s  ETA 10s  model.safetensors",
        ProgressFormat.line(50L << 20, 100L << 20, 5 << 20, "model.safetensors"));
    assertEquals("0 B / 1.00 KiB (0%)  - /s  ETA ?", ProgressFormat.line(0, 1024, 0, ""));
    assertEquals(
        "1.00 KiB / 1.00 KiB (100%)  - /s  ETA 0s", ProgressFormat.line(1024, 1024, 0, null));
  }

  @Test
  void withoutATerminalProgressComesAsPeriodicLines() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    AtomicLong clock = new AtomicLong(1);
    ProgressPrinter p =
        new ProgressPrinter(
            new PrintStream(buf, true, StandardCharsets.UTF_8), false, clock::get, 5_000_000_000L);
    p.planned(RepoRef.parse("org/name"), "c".repeat(40), 2, 10L << 20, 0);
    p.fileStarted("model.safetensors", 10L << 20, 0);
    for (int i = 0; i < 10; i++) {
      clock.addAndGet(1_000_000_000L); // one second per MiB
      p.bytes(1 << 20);
    }
    p.fileDone("model.safetensors");
    p.finished(Path.of("/x"));
    String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
    assertEquals(
        "vlm: org/name@main is commit " + "c".repeat(40) + ": 2 file(s), 10.0 MiB", lines[0]);
    assertEquals("vlm: 5.00 MiB / 10.0 MiB (50%)  1.00 MiB/s  ETA 5s  model.safetensors", lines[1]);
    assertEquals(
        "vlm: 10.0 MiB / 10.0 MiB (100%)  1.00 MiB/s  ETA 0s  model.safetensors", lines[2]);
    assertEquals("vlm: fetched model.safetensors", lines[3]);
    assertEquals("vlm: fetched 10.0 MiB in 10s (1.00 MiB/s); snapshot complete", lines[4]);
    assertEquals(5, lines.length);
    assertFalse(buf.toString(StandardCharsets.UTF_8).contains("\r"));
  }

  @Test
  void theRateFollowsTheLastTenSecondsNotTheSlowStart() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    AtomicLong clock = new AtomicLong(1);
    ProgressPrinter p =
        new ProgressPrinter(
            new PrintStream(buf, true, StandardCharsets.UTF_8), false, clock::get, 5_000_000_000L);
    p.planned(RepoRef.parse("org/name"), "c".repeat(40), 1, 100L << 20, 0);
    p.fileStarted("w", 100L << 20, 0);
    for (int s = 1; s <= 30; s++) {
      clock.addAndGet(1_000_000_000L);
      p.bytes(s <= 20 ? 100L << 10 : 1L << 20); // 100 KiB/s for 20 s, then 1 MiB/s
    }
    String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
    String last = lines[lines.length - 1];
    assertTrue(last.contains("  1.00 MiB/s  "), last);
    assertTrue(lines[2].contains("  100 KiB/s  "), lines[2]);
  }

  @Test
  void onATerminalProgressRedrawsOneLine() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    AtomicLong clock = new AtomicLong(1);
    ProgressPrinter p =
        new ProgressPrinter(
            new PrintStream(buf, true, StandardCharsets.UTF_8), true, clock::get, 100_000_000L);
    p.planned(RepoRef.parse("org/name"), "c".repeat(40), 1, 4096, 0);
    p.fileStarted("w", 4096, 0);
    clock.addAndGet(200_000_000L);
    p.bytes(1024);
    clock.addAndGet(200_000_000L);
    p.bytes(1024);
    String out = buf.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("\r1.00 KiB / 4.00 KiB (25%)"), out);
    assertTrue(out.contains("\r2.00 KiB / 4.00 KiB (50%)"), out);
    assertEquals(
        1,
        out.chars().filter(c -> c == '\n').count(),
        "only the plan line ends with a newline: " + out);
  }

  @Test
  void settingsComeFromTheSameVariablesAsPython(@TempDir Path home) throws Exception {
    HubSettings d = HubSettings.fromEnv(Map.of(), home);
    assertEquals(URI.create("https://huggingface.co"), d.endpoint());
    assertEquals(home.resolve(".cache/huggingface/hub"), d.cacheDir());
    assertNull(d.token());
    assertFalse(d.offline());

    HubSettings h =
        HubSettings.fromEnv(
            Map.of(
                "HF_HOME",
                home.resolve("hf").toString(),
                "HF_HUB_OFFLINE",
                "1",
                "HF_ENDPOINT",
                "http://127.0.0.1:9/"),
            home);
    assertEquals(home.resolve("hf/hub"), h.cacheDir());
    assertTrue(h.offline());
    assertEquals(URI.create("http://127.0.0.1:9"), h.endpoint(), "trailing slash dropped");

    Files.createDirectories(home.resolve("hf"));
    Files.writeString(home.resolve("hf/token"), "hf_from_login\n");
    assertEquals(
        "hf_from_login",
        HubSettings.fromEnv(Map.of("HF_HOME", home.resolve("hf").toString()), home).token());
    HubSettings t =
        HubSettings.fromEnv(
            Map.of(
                "HF_HOME",
                home.resolve("hf").toString(),
                "HF_TOKEN",
                "hf_env",
                "HF_HUB_CACHE",
                "/elsewhere"),
            home);
    assertEquals("hf_env", t.token(), "HF_TOKEN wins over the login file");
    assertEquals(Path.of("/elsewhere"), t.cacheDir(), "HF_HUB_CACHE wins over HF_HOME");
    assertFalse(t.toString().contains("hf_env"), "the token is never printed");

    IllegalArgumentException bad =
        assertThrows(
            IllegalArgumentException.class,
            () -> HubSettings.fromEnv(Map.of("HF_ENDPOINT", "ftp://x"), home));
    assertTrue(bad.getMessage().contains("HF_ENDPOINT"), bad.getMessage());
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(
      delimiter = '|',
      value = {"\"abc\"|abc", "W/\"abc\"|abc", "abc|abc", "\"\"|"})
  void etagsLoseQuotesAndWeakPrefix(String header, String expected) {
    assertEquals(expected, HubClient.normalizeEtag(header));
  }

  @ParameterizedTest(name = "{0} is an unsafe repository file name")
  @CsvSource({"../x", "/etc/passwd", "a/../../b", "a//b", "a\\b", "./a"})
  void repositoryFileNamesCannotEscapeTheSnapshot(String name) {
    assertThrows(IllegalArgumentException.class, () -> HubCache.checkRepoFilename(name));
  }

  @ParameterizedTest(name = "etag {0} is refused")
  @CsvSource({"../../x", "a/b", "x.incomplete"})
  void etagsThatAreNotPlainFileNamesAreRefused(String etag) {
    assertThrows(IllegalArgumentException.class, () -> HubCache.checkEtag(etag));
  }
}
