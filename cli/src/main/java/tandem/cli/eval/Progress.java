package tandem.cli.eval;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * The progress bar of a long eval on stderr: redrawn in place on a terminal; elsewhere (a log, a
 * test) one line per tenth of the work, so a log does not fill with carriage returns. Warnings go
 * through {@link #println} so they do not land in the middle of the bar.
 */
public final class Progress {
  private static final int WIDTH = 24;

  private final PrintWriter err;
  private final boolean tty;
  private int total;
  private int done;
  private int resumed;
  private int skipped;
  private int doneHere;
  private long t0;
  private int lastTenth = -1;
  private boolean drawn;
  private long lastDraw;

  public Progress(PrintWriter err, boolean tty) {
    this.err = err;
    this.tty = tty;
  }

  /** {@code total} questions, of which {@code resumed} were answered by an earlier run. */
  public synchronized void start(int total, int resumed) {
    this.total = total;
    this.resumed = resumed;
    this.done = resumed;
    this.t0 = System.nanoTime();
    if (resumed > 0)
      println("resuming: " + resumed + " of " + total + " answers saved by an earlier run");
    draw(true);
  }

  public synchronized void answered() {
    done++;
    doneHere++;
    draw(false);
  }

  public synchronized void skipped(int questions) {
    skipped += questions;
    draw(false);
  }

  public synchronized void println(String line) {
    if (tty && drawn) err.print("\r\033[K");
    err.println(line);
    err.flush();
    if (tty && drawn) draw(true);
  }

  public synchronized void finish() {
    draw(true);
    if (tty && drawn) err.println();
    err.flush();
    drawn = false;
  }

  synchronized String line() {
    int handled = done + skipped;
    int filled = total == 0 ? WIDTH : (int) Math.round((double) handled * WIDTH / total);
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < WIDTH; i++) sb.append(i < filled ? '#' : '.');
    sb.append("] ").append(done).append('/').append(total).append(" answers");
    if (skipped > 0) sb.append(", ").append(skipped).append(" skipped");
    if (doneHere > 0) {
      double per = (System.nanoTime() - t0) / 1e9 / doneHere;
      int left = total - handled;
      sb.append(String.format(Locale.ROOT, ", %.1f s/answer", per));
      if (left > 0) sb.append(", ETA ").append(duration(per * left));
    }
    return sb.toString();
  }

  private void draw(boolean force) {
    if (tty) {
      long now = System.nanoTime();
      if (!force && now - lastDraw < 100_000_000L && done + skipped < total) return;
      lastDraw = now;
      err.print("\r" + line() + "\033[K");
      err.flush();
      drawn = true;
    } else {
      int tenth = total == 0 ? 10 : (done + skipped) * 10 / total;
      if (tenth == lastTenth) return;
      lastTenth = tenth;
      err.println(line());
      err.flush();
    }
  }

  static String duration(double s) {
    long t = Math.round(s);
    if (t < 60) return t + " s";
    if (t < 3600) return (t / 60) + "m" + String.format(Locale.ROOT, "%02d", t % 60) + "s";
    return (t / 3600) + "h" + String.format(Locale.ROOT, "%02d", (t % 3600) / 60) + "m";
  }
}
