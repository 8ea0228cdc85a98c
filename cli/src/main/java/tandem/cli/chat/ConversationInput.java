package tandem.cli.chat;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tandem.cli.UserError;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Role;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;

/**
 * The conversation given on the command line: {@code --messages FILE} (a JSON array of {@code
 * {"role": …, "content": "text" | [{"type":"text","text":…}, {"type":"image","path":…}]}}) or the
 * short form {@code --image F… "question"} (one user turn: the images, then the question). Image
 * paths are taken as given, else relative to the messages file.
 */
public record ConversationInput(List<Message> messages, List<Path> images) {

  public static ConversationInput shortForm(List<Path> images, String question) {
    if (question == null || question.isEmpty())
      throw new UserError("give a question (or use --messages FILE)");
    List<Part> parts = new ArrayList<>();
    for (Path p : images) {
      checkImage(p, "--image " + p);
      parts.add(Part.image(p.toString()));
    }
    parts.add(Part.text(question));
    return new ConversationInput(List.of(Message.ofParts(Role.USER, parts)), List.copyOf(images));
  }

  public static ConversationInput fromJsonFile(Path file) {
    String where = "--messages " + file;
    if (!Files.isRegularFile(file)) throw new UserError(where + " is not a readable file");
    JsonElement root;
    try {
      root = JsonParser.parseString(Files.readString(file));
    } catch (IOException | JsonParseException e) {
      throw new UserError(where + " is not valid JSON: " + e.getMessage());
    }
    if (!root.isJsonArray() || root.getAsJsonArray().isEmpty()) {
      throw new UserError(
          where + " must hold a non-empty JSON array of {\"role\", \"content\"} objects");
    }
    List<Message> messages = new ArrayList<>();
    List<Path> images = new ArrayList<>();
    int i = 0;
    for (JsonElement e : root.getAsJsonArray()) {
      String at = where + ": message " + i++;
      if (!e.isJsonObject()) throw new UserError(at + " is not an object");
      JsonObject m = e.getAsJsonObject();
      Role role;
      try {
        role =
            Role.parse(
                m.has("role") && m.get("role").isJsonPrimitive()
                    ? m.get("role").getAsString()
                    : null);
      } catch (IllegalArgumentException ex) {
        throw new UserError(at + ": " + ex.getMessage());
      }
      JsonElement c = m.get("content");
      if (c == null || c.isJsonNull()) throw new UserError(at + " has no content");
      if (c.isJsonPrimitive()) {
        messages.add(Message.ofString(role, c.getAsString()));
        continue;
      }
      if (!c.isJsonArray())
        throw new UserError(at + ": content must be a string or an array of items");
      List<Part> parts = new ArrayList<>();
      int j = 0;
      for (JsonElement it : c.getAsJsonArray()) {
        String iat = at + " item " + j++;
        if (!it.isJsonObject() || !it.getAsJsonObject().has("type")) {
          throw new UserError(iat + " must be {\"type\": \"text\"|\"image\", …}");
        }
        JsonObject item = it.getAsJsonObject();
        String type = item.get("type").getAsString();
        switch (type) {
          case "text" -> {
            if (!item.has("text") || !item.get("text").isJsonPrimitive())
              throw new UserError(iat + " has no \"text\"");
            parts.add(Part.text(item.get("text").getAsString()));
          }
          case "image" -> {
            JsonElement p = item.has("path") ? item.get("path") : item.get("image");
            if (p == null || !p.isJsonPrimitive()) throw new UserError(iat + " has no \"path\"");
            Path path = Path.of(p.getAsString());
            if (!path.isAbsolute()
                && !Files.exists(path)
                && file.toAbsolutePath().getParent() != null) {
              path = file.toAbsolutePath().getParent().resolve(path);
            }
            checkImage(path, iat);
            parts.add(Part.image(path.toString()));
            images.add(path);
          }
          default ->
              throw new UserError(
                  iat + " has type '" + type + "'; allowed types are text and image");
        }
      }
      messages.add(Message.ofParts(role, parts));
    }
    return new ConversationInput(messages, images);
  }

  private static void checkImage(Path p, String at) {
    if (!Files.isRegularFile(p))
      throw new UserError(at + ": image " + p + " is not a readable file");
  }

  /** The conversation as the gateway's proto, image files read into bytes. */
  public List<ChatMessage> toProto() {
    List<ChatMessage> out = new ArrayList<>();
    for (Message m : messages) {
      ChatMessage.Builder b = ChatMessage.newBuilder().setRole(m.role().wire());
      for (Part p : m.parts()) {
        if (p instanceof Part.Text t) {
          b.addContent(ContentPart.newBuilder().setText(t.text()));
        } else {
          Path path = Path.of(((Part.Image) p).ref());
          try {
            b.addContent(
                ContentPart.newBuilder()
                    .setImage(
                        ImagePart.newBuilder()
                            .setData(ByteString.copyFrom(Files.readAllBytes(path)))));
          } catch (IOException e) {
            throw new UserError("cannot read image " + path + ": " + e.getMessage());
          }
        }
      }
      out.add(b.build());
    }
    return out;
  }

  /** Picks the form from the options: exactly one of --messages or (--image…/question). */
  public static ConversationInput fromOptions(
      Path messagesFile, List<Path> images, String question) {
    if (messagesFile != null) {
      if ((images != null && !images.isEmpty()) || question != null) {
        throw new UserError("give either --messages FILE or --image F \"question\", not both");
      }
      return fromJsonFile(messagesFile);
    }
    return shortForm(images == null ? List.of() : images, question);
  }
}
