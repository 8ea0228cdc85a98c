package tandem.gateway.boxes;

import java.util.ArrayList;
import java.util.List;

/**
 * Finds {@code <box>…</box>} spans in streamed text and parses each as soon as it closes. At the
 * end of the stream a span that was opened but never closed (output cut off) is parsed too and
 * reported as incomplete. Not thread-safe; one per stream.
 */
public final class BoxScanner {
  public static final String OPEN = "<box>";
  public static final String CLOSE = "</box>";

  private final StringBuilder text = new StringBuilder();
  private int scan;
  private int contentStart = -1;

  /** Adds text; returns the boxes of every span that closed within it. */
  public List<BoxSpan> push(String delta) {
    text.append(delta);
    List<BoxSpan> out = new ArrayList<>();
    while (true) {
      if (contentStart < 0) {
        int open = text.indexOf(OPEN, scan);
        if (open < 0) {
          scan = Math.max(scan, text.length() - OPEN.length() + 1);
          return out;
        }
        contentStart = open + OPEN.length();
        scan = contentStart;
      }
      int close = text.indexOf(CLOSE, scan);
      if (close < 0) {
        scan = Math.max(contentStart, text.length() - CLOSE.length() + 1);
        return out;
      }
      out.addAll(BoxParser.parse(text.substring(contentStart, close), true));
      scan = close + CLOSE.length();
      contentStart = -1;
    }
  }

  /** Ends the stream: an unclosed span is parsed as cut-off output (never dropped). */
  public List<BoxSpan> finish() {
    if (contentStart < 0) return List.of();
    String raw = text.substring(contentStart);
    contentStart = -1;
    return BoxParser.parse(raw, false);
  }

  /** Every box of a whole text, closed spans first, then a cut-off one. */
  public static List<BoxSpan> scanAll(String text) {
    BoxScanner s = new BoxScanner();
    List<BoxSpan> out = new ArrayList<>(s.push(text));
    out.addAll(s.finish());
    return out;
  }
}
