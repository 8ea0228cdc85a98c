package tandem.gateway.pipeline;

import tandem.common.error.Rejection;

/**
 * Where a chat's events go. Called serially (never from two threads at once), and after {@link
 * ChatEvent.Done} or {@link #fail} nothing more.
 */
public interface ChatSink {
  void event(ChatEvent e);

  /**
   * The chat failed before any answer text was sent: the front door answers with an error status.
   */
  void fail(Rejection r);
}
