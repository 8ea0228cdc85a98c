package tandem.gateway.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import tandem.gateway.boxes.BoxScanner;
import tandem.gateway.boxes.BoxSpan;
import tandem.gateway.chat.ThinkBlockStripper;
import tandem.gateway.tokenize.IncrementalDetokenizer;
import tandem.gateway.tokenize.TokenBytes;

/**
 * Turns generated ids into answer events: incremental detokenization (never a broken character),
 * the leading empty think block stripped, stop strings applied, and {@code <box>} spans parsed as
 * they close. Pure apart from the clock it is given (to report the time spent parsing boxes).
 */
public final class AnswerAssembler {
  private final IncrementalDetokenizer detok;
  private final ThinkBlockStripper think = new ThinkBlockStripper();
  private final StopStrings stop;
  private final BoxScanner boxes = new BoxScanner();
  private final int boxImageIndex;
  private final int boxImageWidth;
  private final int boxImageHeight;
  private final LongSupplier clock;
  private final List<Integer> ids = new ArrayList<>();
  private long parseNanos;
  private int boxCount;

  /**
   * @param boxImageIndex the image boxes refer to (the last one of the request), -1 when there is
   *     none
   * @param width, height that image's original size, for pixel coordinates
   */
  public AnswerAssembler(
      TokenBytes tokens,
      List<String> stopStrings,
      int boxImageIndex,
      int width,
      int height,
      LongSupplier clock) {
    this.detok = new IncrementalDetokenizer(tokens, true);
    this.stop = new StopStrings(stopStrings);
    this.boxImageIndex = boxImageIndex;
    this.boxImageWidth = width;
    this.boxImageHeight = height;
    this.clock = clock;
  }

  /** Adds one generated id; returns the delta it completes, or null when it shows nothing yet. */
  public ChatEvent.Delta push(int id) {
    if (stop.stopped()) return null;
    ids.add(id);
    return delta(stop.push(think.push(detok.push(id))));
  }

  /**
   * True once a stop string ended the answer: further ids are ignored, the generation should be
   * cancelled.
   */
  public boolean stopped() {
    return stop.stopped();
  }

  /** The end of the answer: held-back text and boxes cut off by the end. */
  public List<ChatEvent.Delta> finish() {
    List<ChatEvent.Delta> out = new ArrayList<>();
    if (!stop.stopped()) {
      add(out, delta(stop.push(think.push(detok.flush()))));
      add(out, delta(stop.push(think.flush())));
      add(out, delta(stop.flush()));
    }
    long p = clock.getAsLong();
    List<BoxSpan> cut = boxes.finish();
    parseNanos += clock.getAsLong() - p;
    if (!cut.isEmpty()) out.add(new ChatEvent.Delta("", results(cut)));
    return out;
  }

  private static void add(List<ChatEvent.Delta> out, ChatEvent.Delta d) {
    if (d != null) out.add(d);
  }

  private ChatEvent.Delta delta(String text) {
    if (text.isEmpty()) return null;
    long p = clock.getAsLong();
    List<BoxSpan> closed = boxes.push(text);
    parseNanos += clock.getAsLong() - p;
    return new ChatEvent.Delta(text, results(closed));
  }

  private List<ChatEvent.BoxResult> results(List<BoxSpan> spans) {
    List<ChatEvent.BoxResult> out = new ArrayList<>(spans.size());
    for (BoxSpan b : spans) {
      double[] norm = b.parsed() ? b.norm().clone() : new double[0];
      double[] px =
          b.parsed() && boxImageIndex >= 0
              ? b.pixels(boxImageWidth, boxImageHeight)
              : new double[0];
      out.add(new ChatEvent.BoxResult(b.label(), b.raw(), b.parsed(), norm, px, boxImageIndex));
      boxCount++;
    }
    return out;
  }

  /** The ids taken so far (up to the one that completed a stop string). */
  public List<Integer> ids() {
    return List.copyOf(ids);
  }

  public int generated() {
    return ids.size();
  }

  public long parseNanos() {
    return parseNanos;
  }

  public int boxCount() {
    return boxCount;
  }
}
