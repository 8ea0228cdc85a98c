package tandem.vision.embed;

/**
 * The call that was encoding an image ended (cancelled, timed out or failed elsewhere) before the
 * image was done; a call that joined that encoding retries instead of failing for somebody else's
 * reason.
 */
final class OwnerGone extends RuntimeException {
  OwnerGone(String message) {
    super(message, null, false, false);
  }
}
