package tandem.gateway.chat;

import java.util.List;

/**
 * One conversation turn. {@code stringContent} records whether the client sent {@code content} as a
 * plain string (Hugging Face distinguishes {@code content is string} from a list of items in a few
 * template branches); a string content is represented as a single text part.
 */
public record Message(Role role, List<Part> parts, boolean stringContent) {
  public Message {
    parts = List.copyOf(parts);
    if (stringContent && (parts.size() != 1 || !(parts.get(0) instanceof Part.Text))) {
      throw new IllegalArgumentException("string content must be exactly one text part");
    }
  }

  public static Message ofString(Role role, String content) {
    return new Message(role, List.of(new Part.Text(content)), true);
  }

  public static Message ofParts(Role role, List<Part> parts) {
    return new Message(role, parts, false);
  }

  /** Concatenation of the text parts (images ignored). */
  public String text() {
    StringBuilder sb = new StringBuilder();
    for (Part p : parts) if (p instanceof Part.Text t) sb.append(t.text());
    return sb.toString();
  }

  public long imageCount() {
    return parts.stream().filter(p -> p instanceof Part.Image).count();
  }
}
