package tandem.gateway.chat;

import java.util.ArrayList;
import java.util.List;

/**
 * Appends segments, merging adjacent text into one segment (HF's tokenizer sees adjacent text as
 * one BPE input) in linear time: text is collected in a builder and becomes a segment only when
 * something else follows, so a conversation of many small parts is not copied once per part.
 */
final class SegmentBuilder {
  private final List<Segment> out = new ArrayList<>();
  private final StringBuilder text = new StringBuilder();

  void text(String s) {
    text.append(s);
  }

  void add(Segment s) {
    if (s instanceof Segment.Text t) {
      text.append(t.text());
      return;
    }
    flush();
    out.add(s);
  }

  private void flush() {
    if (text.length() > 0) {
      out.add(new Segment.Text(text.toString()));
      text.setLength(0);
    }
  }

  List<Segment> build() {
    flush();
    return List.copyOf(out);
  }
}
