package tandem.gateway.pipeline;

import java.util.List;
import tandem.common.error.Rejection;

/**
 * decoder-svc as the pipeline sees it: a prompt in, a stream of token ids and a final report out.
 */
public interface DecoderBackend {
  /**
   * Starts one generation; events arrive on {@code listener} serially. Cancelling the returned
   * generation (or the scope) ends the backend call and frees its sequence.
   */
  Generation generate(Request request, CallScope scope, Listener listener);

  /** The backend's name in errors, e.g. {@code decoder-svc (10.0.0.4:50053)}. */
  String name();

  /** A running generation. */
  interface Generation {
    void cancel();
  }

  /**
   * The prompt: ids with {@code imageTokenId} at the image positions, filled from the blocks in
   * order.
   */
  record Request(
      String requestId,
      int[] inputIds,
      int imageTokenId,
      List<VisionBackend.EmbeddingHandle> imageEmbeddings,
      Sampling sampling) {}

  /** decoder-svc's closing report. */
  record Final(
      FinishReason reason,
      int promptTokens,
      int generatedTokens,
      double prefillMs,
      double decodeMs,
      int cachedPromptTokens,
      String error) {}

  /** Receives one generation's events; {@link #completed} or {@link #failed} ends it. */
  interface Listener {
    void tokens(int[] ids);

    void finalReport(Final f);

    void failed(Rejection r);

    void completed();
  }
}
