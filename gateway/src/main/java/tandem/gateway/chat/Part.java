package tandem.gateway.chat;

/** One content item of a message: text, or an image placeholder (the pixels travel separately). */
public sealed interface Part {
  /** A text item; whatever it contains stays text (no control tokens). */
  record Text(String text) implements Part {
    public Text {
      if (text == null) throw new IllegalArgumentException("text part without text");
    }
  }

  /** An image item; {@code source} is opaque to the template (bytes, a client image id or a path). */
  record Image(Object source) implements Part {}

  static Part text(String s) {
    return new Text(s);
  }

  static Part image(Object source) {
    return new Image(source);
  }
}
