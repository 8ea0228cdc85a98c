package tandem.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tandem.cli.chat.ConversationInput;

/**
 * The conversation of {@code vlm chat} and {@code vlm prompt}: {@code --messages FILE}, or images
 * and a question.
 */
final class ConversationOptions {
  @Option(names = "--messages", description = "JSON array of {\"role\", \"content\"} messages.")
  Path messages;

  @Option(
      names = "--image",
      description = "Image file (repeatable); with a question: one user turn.")
  List<Path> images = new ArrayList<>();

  @Parameters(arity = "0..1", paramLabel = "QUESTION", description = "The question (short form).")
  String question;

  /** The conversation the flags describe; a {@link UserError} when they contradict each other. */
  ConversationInput read() {
    return ConversationInput.fromOptions(messages, images, question);
  }
}
