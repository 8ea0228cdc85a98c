package tandem.gateway.pipeline;

import java.nio.ByteBuffer;

/**
 * An image of a request: its encoded bytes (read-only, not copied) and/or a client image id that
 * vision-svc knows.
 */
public record ImageInput(ByteBuffer data, String imageId) {
  public ImageInput {
    data = data == null ? ByteBuffer.allocate(0) : data.asReadOnlyBuffer();
    imageId = imageId == null ? "" : imageId;
  }

  public int size() {
    return data.remaining();
  }
}
