package tandem.common.hub;

import java.util.Locale;

/** Pure formatting of download progress: sizes in binary units, rates, remaining time. */
public final class ProgressFormat {
  private ProgressFormat() {}

  private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB"};

  /** 0 B, 999 B, 1.0 KiB, 12.3 MiB, 1.20 GiB: three significant digits above 1 KiB. */
  public static String bytes(long n) {
    if (n < 1024) return n + " B";
    double v = n;
    int u = 0;
    while (v >= 1024 && u < UNITS.length - 1) {
      v /= 1024;
      u++;
    }
    String fmt = v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s";
    return String.format(Locale.ROOT, fmt, v, UNITS[u]);
  }

  /** 0s, 59s, 1m05s, 1h01m; "?" when unknown (no rate yet). */
  public static String duration(double seconds) {
    if (Double.isNaN(seconds) || Double.isInfinite(seconds) || seconds < 0) return "?";
    long s = Math.round(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
  }

  /**
   * One progress line: {@code 45.2 MiB / 1.20 GiB (4%) 3.40 MiB/s ETA 5m12s model.safetensors}. The
   * rate is in bytes per second over this run; the ETA is what is left at that rate.
   */
  public static String line(long done, long total, double bytesPerSecond, String file) {
    StringBuilder sb = new StringBuilder();
    sb.append(bytes(done)).append(" / ").append(bytes(total));
    if (total > 0) sb.append(" (").append(Math.min(100, done * 100 / total)).append("%)");
    sb.append("  ");
    if (bytesPerSecond > 0) sb.append(bytes((long) bytesPerSecond)).append("/s");
    else sb.append("- /s");
    double eta = bytesPerSecond > 0 ? Math.max(0, total - done) / bytesPerSecond : Double.NaN;
    sb.append("  ETA ").append(done >= total ? "0s" : duration(eta));
    if (file != null && !file.isEmpty()) sb.append("  ").append(file);
    return sb.toString();
  }
}
