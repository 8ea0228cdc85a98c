package tandem.vision.preprocess;

/**
 * The bytes are not an image this service accepts: unknown or unsupported format, corrupt or
 * truncated data, or an image over the byte or pixel limit. The message says what was wrong and
 * what is allowed; it is safe to show to the client (the gRPC layer maps it to INVALID_ARGUMENT).
 */
public final class ImageDecodeException extends Exception {
  /** Why the image was refused; lets the caller pick a status code without parsing the message. */
  public enum Reason {
    UNSUPPORTED_FORMAT,
    CORRUPT,
    TOO_MANY_BYTES,
    TOO_MANY_PIXELS
  }

  private final Reason reason;

  public ImageDecodeException(Reason reason, String message) {
    super(message);
    this.reason = reason;
  }

  public ImageDecodeException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
