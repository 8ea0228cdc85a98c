package tandem.gateway.pipeline;

import java.util.List;

/**
 * Ends the answer at the first stop string, across token boundaries, and never lets text past it
 * out. Text that could still be the start of a stop string is held back until the next piece
 * decides it; a surrogate pair is never split. Pure: feed it the answer text piece by piece.
 */
public final class StopStrings {
  private final List<String> stops;
  private final StringBuilder pending = new StringBuilder();
  private boolean stopped;

  public StopStrings(List<String> stops) {
    for (String s : stops) {
      if (s.isEmpty()) throw new IllegalArgumentException("a stop string is empty");
    }
    this.stops = List.copyOf(stops);
  }

  /** True once a stop string appeared: the answer is complete. */
  public boolean stopped() {
    return stopped;
  }

  /** The text that can be shown now; "" once stopped. */
  public String push(String text) {
    if (stopped || text.isEmpty()) return "";
    if (stops.isEmpty()) return text;
    pending.append(text);
    String p = pending.toString();
    int first = -1;
    for (String s : stops) {
      int i = p.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      stopped = true;
      pending.setLength(0);
      return p.substring(0, first);
    }
    // hold the longest tail that is the start of some stop string (a match beginning earlier would
    // be longer)
    int hold = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, p.length()); k > hold; k--) {
        if (p.regionMatches(p.length() - k, s, 0, k)) {
          hold = k;
          break;
        }
      }
    }
    int cut = p.length() - hold;
    if (cut > 0 && Character.isHighSurrogate(p.charAt(cut - 1))) cut--;
    pending.delete(0, cut);
    return p.substring(0, cut);
  }

  /** At the end of the answer: what was held back (it never became a stop string). */
  public String flush() {
    if (stopped) return "";
    String p = pending.toString();
    pending.setLength(0);
    return p;
  }
}
