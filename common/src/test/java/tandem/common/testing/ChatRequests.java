package tandem.common.testing;

import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;

/** Chat requests the tests send again and again. */
public final class ChatRequests {
  private ChatRequests() {}

  /** One user turn of plain text; add params or more messages to the builder. */
  public static ChatRequest.Builder user(String text) {
    return ChatRequest.newBuilder()
        .addMessages(
            ChatMessage.newBuilder()
                .setRole("user")
                .addContent(ContentPart.newBuilder().setText(text)));
  }

  /** One user turn: an image, then a question. */
  public static ChatRequest.Builder userWithImage(ImagePart.Builder image, String text) {
    return ChatRequest.newBuilder()
        .addMessages(
            ChatMessage.newBuilder()
                .setRole("user")
                .addContent(ContentPart.newBuilder().setImage(image))
                .addContent(ContentPart.newBuilder().setText(text)));
  }
}
