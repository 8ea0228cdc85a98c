package tandem.gateway.pipeline;

import java.util.List;
import tandem.gateway.chat.Message;

/**
 * One chat request after a front door parsed and shape-checked it: the conversation (image parts
 * are placeholders, their bytes in {@link #images} in placeholder order), generation parameters,
 * template switches and stop strings.
 *
 * @param requestId the client's id, or "" for a generated one
 * @param enableThinking null: the template's default (false, as trained)
 * @param stop strings that end the answer where they first appear; the answer never contains them
 * @param requestBytes the size of the request as received (checked against the request-size limit)
 */
public record ChatInput(
    String requestId,
    List<Message> messages,
    List<ImageInput> images,
    Sampling sampling,
    boolean addGenerationPrompt,
    Boolean enableThinking,
    List<String> stop,
    long requestBytes) {
  public ChatInput {
    requestId = requestId == null ? "" : requestId;
    messages = List.copyOf(messages);
    images = List.copyOf(images);
    sampling = sampling == null ? Sampling.defaults() : sampling;
    stop = stop == null ? List.of() : List.copyOf(stop);
  }
}
