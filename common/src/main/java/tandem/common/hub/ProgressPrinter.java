package tandem.common.hub;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/**
 * Prints download progress on a stream (stderr): on a terminal one line redrawn in place a few
 * times a second; otherwise (a log file, CI) a plain line every few seconds plus one per finished
 * file.
 */
public final class ProgressPrinter implements DownloadListener {
  private final PrintStream out;
  private final boolean terminal;
  private final LongSupplier nanoTime;
  private final long periodNanos;

  private long total;
  private long completed; // bytes of finished files (or cached)
  private long current; // bytes of the file in flight, including what it resumed from
  private long transferred; // bytes that crossed the network in this run, for the rate
  private long startNanos;
  private long lastPrint;
  private String file = "";
  private int lastWidth;
  private static final long WINDOW_NANOS = 10_000_000_000L;
  private final java.util.ArrayDeque<long[]> samples =
      new java.util.ArrayDeque<>(); // {nanos, transferred}

  public ProgressPrinter(
      PrintStream out, boolean terminal, LongSupplier nanoTime, long periodNanos) {
    this.out = out;
    this.terminal = terminal;
    this.nanoTime = nanoTime;
    this.periodNanos = periodNanos;
  }

  /** Progress on stderr, redrawn in place when stderr is a terminal, a line every 5 s otherwise. */
  public static ProgressPrinter stderr() {
    boolean tty = stderrIsTerminal();
    return new ProgressPrinter(
        System.err, tty, System::nanoTime, tty ? 200_000_000L : 5_000_000_000L);
  }

  /**
   * Linux tells through /proc where fd 2 goes; elsewhere fall back to whether there is a console at
   * all.
   */
  public static boolean stderrIsTerminal() {
    try {
      Path fd2 = Path.of("/proc/self/fd/2");
      if (Files.isSymbolicLink(fd2)) {
        String target = Files.readSymbolicLink(fd2).toString();
        return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
      }
    } catch (Exception e) {
      // fall through
    }
    return System.console() != null;
  }

  @Override
  public void planned(RepoRef ref, String commit, int files, long totalBytes, long cachedBytes) {
    total = totalBytes;
    completed = cachedBytes;
    startNanos = nanoTime.getAsLong();
    lastPrint = startNanos;
    samples.clear();
    samples.addLast(new long[] {startNanos, 0});
    out.println(
        "vlm: "
            + ref
            + " is commit "
            + commit
            + ": "
            + files
            + " file(s), "
            + ProgressFormat.bytes(totalBytes)
            + (cachedBytes > 0
                ? ", " + ProgressFormat.bytes(cachedBytes) + " already cached"
                : ""));
  }

  @Override
  public void fileStarted(String f, long size, long resumeFrom) {
    file = f;
    current = resumeFrom;
    if (resumeFrom > 0) {
      clearLine();
      out.println(
          "vlm: resuming "
              + f
              + " at "
              + ProgressFormat.bytes(resumeFrom)
              + " of "
              + ProgressFormat.bytes(size));
    }
  }

  @Override
  public void bytes(long n) {
    current += n;
    transferred += n;
    long now = nanoTime.getAsLong();
    if (now - lastPrint >= periodNanos) {
      lastPrint = now;
      print(now);
    }
  }

  @Override
  public void retrying(String what, int attempt, String reason) {
    clearLine();
    out.println("vlm: " + what + ": attempt " + attempt + " failed (" + reason + "), retrying");
  }

  @Override
  public void corrupted(String f, String expected, String actual) {
    clearLine();
    out.println(
        "vlm: "
            + f
            + " is corrupted (hash "
            + actual
            + ", expected "
            + expected
            + "), fetching it again");
    current = 0;
  }

  @Override
  public void fileDone(String f) {
    // A cached file never reported its bytes; a fetched one did. Either way it now counts as
    // complete.
    completed += current;
    current = 0;
    if (!terminal && transferred > 0 && f.equals(file)) {
      out.println("vlm: fetched " + f);
    }
    file = "";
  }

  @Override
  public void usingCache(RepoRef ref, Path snapshot, String reason) {
    clearLine();
    out.println("vlm: " + reason + "; using the cached snapshot of " + ref);
  }

  @Override
  public void finished(Path snapshot) {
    long now = nanoTime.getAsLong();
    clearLine();
    if (startNanos != 0 || transferred > 0) {
      double secs = Math.max(1e-9, (now - startNanos) / 1e9);
      out.println(
          "vlm: fetched "
              + ProgressFormat.bytes(transferred)
              + " in "
              + ProgressFormat.duration(secs)
              + (transferred > 0
                  ? " (" + ProgressFormat.bytes((long) (transferred / secs)) + "/s)"
                  : "")
              + "; snapshot complete");
    }
  }

  private void print(long now) {
    double rate = rate(now);
    String line = ProgressFormat.line(completed + current, total, rate, file);
    if (terminal) {
      int pad = Math.max(0, lastWidth - line.length());
      out.print("\r" + line + " ".repeat(pad));
      lastWidth = line.length();
    } else {
      out.println("vlm: " + line);
    }
    out.flush();
  }

  /**
   * Bytes per second over the last {@link #WINDOW_NANOS} (the whole run while it is shorter): small
   * files and request latency at the start would otherwise make the first estimates absurd. Unknown
   * (0) for the first second.
   */
  private double rate(long now) {
    samples.addLast(new long[] {now, transferred});
    while (samples.size() > 2 && now - samples.peekFirst()[0] > WINDOW_NANOS) samples.removeFirst();
    long[] first = samples.size() > 1 ? samples.peekFirst() : new long[] {startNanos, 0};
    if (now - startNanos < 1_000_000_000L) return 0;
    double secs = (now - first[0]) / 1e9;
    return secs > 0 ? (transferred - first[1]) / secs : 0;
  }

  /** Wipes a half-drawn progress line, so that an error printed next starts at the left margin. */
  public void clearLine() {
    if (terminal && lastWidth > 0) {
      out.print("\r" + " ".repeat(lastWidth) + "\r");
      lastWidth = 0;
    }
  }
}
