package tandem.gateway.pipeline;

import java.util.List;

/**
 * What a chat produces, in order: deltas (each with the boxes its text closed), then exactly one
 * {@link Done}.
 */
public sealed interface ChatEvent {
  /**
   * New answer text (never a broken UTF-8 character, never past a stop string) and the boxes whose
   * {@code </box>} it contains; text may be empty when the end of the answer closes a cut-off box.
   */
  record Delta(String text, List<BoxResult> boxes) implements ChatEvent {
    public Delta {
      boxes = List.copyOf(boxes);
    }
  }

  /** The end of the answer. */
  record Done(ChatResult result) implements ChatEvent {}

  /**
   * A {@code <box>…</box>} span of the answer.
   *
   * @param norm x1, y1, x2, y2 in per-mille (empty when not parsed)
   * @param pixels the same in pixels of the image {@code imageIndex} (empty when not parsed or no
   *     image)
   */
  record BoxResult(
      String label, String raw, boolean parsed, double[] norm, double[] pixels, int imageIndex) {}

  /**
   * @param error text when the reason is {@link FinishReason#ERROR}, else ""
   * @param traceId W3C trace id, "" when not traced
   * @param completionIds the generated ids in order (stop token included)
   */
  record ChatResult(
      String requestId,
      FinishReason reason,
      Usage usage,
      Timings timings,
      String traceId,
      String error,
      List<Integer> completionIds) {}

  /** Token counts; {@code cachedPromptTokens} were reused from decoder-svc's prefix cache. */
  record Usage(int promptTokens, int imageTokens, int completionTokens, int cachedPromptTokens) {}

  /** Per-stage milliseconds. */
  record Timings(
      double preprocessMs,
      double visionMs,
      boolean visionCacheHit,
      double tokenizeMs,
      double prefillMs,
      double timeToFirstTokenMs,
      double decodeMs,
      double parseMs,
      double totalMs) {}
}
