package tandem.gateway.chat;

/** One content item of a message: text, or an image placeholder (the pixels travel separately). */
public sealed interface Part {
  /** A text item; whatever it contains stays text (no control tokens). */
  record Text(String text) implements Part {
    public Text {
      if (text == null) throw new IllegalArgumentException("text part without text");
    }
  }

  /**
   * An image placeholder; the pixels travel separately (in request order). {@code ref} names the
   * image for whoever built the message (a file path, "image 2"); the template never reads it.
   */
  record Image(String ref) implements Part {
    public Image {
      if (ref == null) throw new IllegalArgumentException("image part without a reference");
    }
  }

  static Part text(String s) {
    return new Text(s);
  }

  static Part image(String ref) {
    return new Image(ref);
  }
}
