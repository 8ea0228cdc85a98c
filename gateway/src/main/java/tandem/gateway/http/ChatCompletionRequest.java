package tandem.gateway.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import tandem.common.error.Rejection;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Role;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.pipeline.ChatInput;
import tandem.gateway.pipeline.ImageInput;
import tandem.gateway.pipeline.Sampling;

/**
 * An OpenAI chat-completions body → {@link ChatInput}. Strict: an unknown field, a wrong type or an
 * unsupported value is INVALID naming the field and what is allowed, so a client never gets an
 * answer to a question it did not ask. A parameter left out stays unset ({@link Sampling} null),
 * which means the checkpoint's default on both front doors.
 */
record ChatCompletionRequest(ChatInput input, boolean stream, boolean includeUsage, String model) {
  /** Fetches an http(s) image URL whose host is allowed, or refuses it. */
  interface ImageFetcher {
    ByteBuffer fetch(String url, String where);
  }

  /** Fields we read. */
  private static final Set<String> KNOWN =
      Set.of(
          "model",
          "messages",
          "stream",
          "stream_options",
          "max_tokens",
          "max_completion_tokens",
          "temperature",
          "top_p",
          "seed",
          "stop",
          "n",
          "min_tokens",
          "top_k",
          "repetition_penalty",
          "no_repeat_ngram_size",
          "user",
          "metadata",
          "store",
          "presence_penalty",
          "frequency_penalty",
          "logprobs",
          "response_format",
          "stop_token_ids",
          "request_id",
          "enable_thinking",
          "chat_template_kwargs",
          "add_generation_prompt");

  /**
   * The image_url parts of a request body, counted before any is decoded or fetched (malformed
   * parts are left to {@link #parse}, which names them).
   */
  static int countImages(JsonElement body) {
    if (body == null || !body.isJsonObject()) return 0;
    JsonElement ms = body.getAsJsonObject().get("messages");
    if (ms == null || !ms.isJsonArray()) return 0;
    int n = 0;
    for (JsonElement m : ms.getAsJsonArray()) {
      JsonElement c = m.isJsonObject() ? m.getAsJsonObject().get("content") : null;
      if (c == null || !c.isJsonArray()) continue;
      for (JsonElement p : c.getAsJsonArray()) {
        if (p.isJsonObject() && "image_url".equals(str(p.getAsJsonObject(), "type", null))) n++;
      }
    }
    return n;
  }

  static ChatCompletionRequest parse(
      JsonElement body,
      String servedModel,
      long bodyBytes,
      int maxImageBytes,
      ImageFetcher fetcher) {
    if (body == null || !body.isJsonObject())
      throw Rejection.invalid("the body must be a JSON object");
    JsonObject o = body.getAsJsonObject();
    for (String k : o.keySet()) {
      if (!KNOWN.contains(k)) {
        throw Rejection.invalid(
            "unknown field '"
                + k
                + "'; supported: "
                + String.join(", ", new java.util.TreeSet<>(KNOWN)));
      }
    }
    String model = str(o, "model", null);
    if (model != null && !model.equals(servedModel)) {
      throw new Rejection(
          Rejection.Kind.NOT_FOUND,
          "the model '"
              + model
              + "' does not exist; this server serves '"
              + servedModel
              + "' (GET /v1/models)");
    }
    Integer n = integer(o, "n");
    if (n != null && n != 1) {
      throw Rejection.invalid(
          "n = " + n + " is not supported; only n = 1 (one choice per request)");
    }
    zeroOrAbsent(o, "presence_penalty");
    zeroOrAbsent(o, "frequency_penalty");
    if (o.has("logprobs") && !o.get("logprobs").isJsonNull() && bool(o, "logprobs", false)) {
      throw Rejection.invalid("logprobs is not supported; leave it out or set it to false");
    }
    if (o.has("response_format") && !o.get("response_format").isJsonNull()) {
      JsonElement rf = o.get("response_format");
      if (!rf.isJsonObject() || !"text".equals(str(rf.getAsJsonObject(), "type", "text"))) {
        throw Rejection.invalid("response_format: only {\"type\": \"text\"} is supported");
      }
    }
    boolean stream = bool(o, "stream", false);
    boolean includeUsage = false;
    if (o.has("stream_options") && !o.get("stream_options").isJsonNull()) {
      if (!stream) throw Rejection.invalid("stream_options is only allowed with stream: true");
      JsonElement so = o.get("stream_options");
      if (!so.isJsonObject()) throw Rejection.invalid("stream_options must be an object");
      for (String k : so.getAsJsonObject().keySet()) {
        if (!k.equals("include_usage")) {
          throw Rejection.invalid(
              "stream_options." + k + " is not supported; supported: include_usage");
        }
      }
      includeUsage = bool(so.getAsJsonObject(), "include_usage", false);
    }
    Integer maxTokens = integer(o, "max_tokens");
    Integer maxCompletion = integer(o, "max_completion_tokens");
    if (maxTokens != null && maxCompletion != null && !maxTokens.equals(maxCompletion)) {
      throw Rejection.invalid(
          "max_tokens ("
              + maxTokens
              + ") and max_completion_tokens ("
              + maxCompletion
              + ") disagree; send one of them");
    }
    Long seed = null;
    if (o.has("seed") && !o.get("seed").isJsonNull()) {
      JsonPrimitive p = primitive(o, "seed");
      try {
        seed = p.getAsBigDecimal().longValueExact();
      } catch (ArithmeticException | NumberFormatException e) {
        throw Rejection.invalid("seed must be an integer, got " + p);
      }
    }
    List<Integer> stopIds = new ArrayList<>();
    if (o.has("stop_token_ids") && !o.get("stop_token_ids").isJsonNull()) {
      JsonElement s = o.get("stop_token_ids");
      if (!s.isJsonArray()) throw Rejection.invalid("stop_token_ids must be an array of integers");
      for (JsonElement e : s.getAsJsonArray()) stopIds.add(intValue(e, "stop_token_ids[]"));
    }
    Sampling sampling =
        new Sampling(
            maxTokens != null ? maxTokens : maxCompletion,
            integer(o, "min_tokens"),
            integer(o, "no_repeat_ngram_size"),
            number(o, "temperature"),
            number(o, "top_p"),
            integer(o, "top_k"),
            seed,
            number(o, "repetition_penalty"),
            stopIds);
    List<String> stop = new ArrayList<>();
    if (o.has("stop") && !o.get("stop").isJsonNull()) {
      JsonElement s = o.get("stop");
      if (s.isJsonPrimitive() && s.getAsJsonPrimitive().isString()) {
        stop.add(s.getAsString());
      } else if (s.isJsonArray()) {
        for (JsonElement e : s.getAsJsonArray()) {
          if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw Rejection.invalid("stop must be a string or an array of strings");
          }
          stop.add(e.getAsString());
        }
      } else {
        throw Rejection.invalid("stop must be a string or an array of strings");
      }
    }
    Boolean thinking = null;
    if (o.has("chat_template_kwargs") && !o.get("chat_template_kwargs").isJsonNull()) {
      JsonElement k = o.get("chat_template_kwargs");
      if (!k.isJsonObject()) throw Rejection.invalid("chat_template_kwargs must be an object");
      for (String key : k.getAsJsonObject().keySet()) {
        if (!key.equals("enable_thinking")) {
          throw Rejection.invalid(
              "chat_template_kwargs." + key + " is not supported; supported: enable_thinking");
        }
      }
      if (k.getAsJsonObject().has("enable_thinking"))
        thinking = bool(k.getAsJsonObject(), "enable_thinking", false);
    }
    if (o.has("enable_thinking") && !o.get("enable_thinking").isJsonNull()) {
      thinking = bool(o, "enable_thinking", false);
    }

    List<Message> messages = new ArrayList<>();
    List<ImageInput> images = new ArrayList<>();
    JsonElement ms = o.get("messages");
    if (ms == null || !ms.isJsonArray())
      throw Rejection.invalid("messages is required: an array of {role, content}");
    JsonArray arr = ms.getAsJsonArray();
    for (int i = 0; i < arr.size(); i++) {
      messages.add(message(arr.get(i), i, images, maxImageBytes, fetcher));
    }
    String requestId = str(o, "request_id", null);
    if (requestId == null || requestId.isEmpty()) {
      requestId = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
    }
    ChatInput in =
        new ChatInput(
            requestId,
            messages,
            images,
            sampling,
            bool(o, "add_generation_prompt", true),
            thinking,
            stop,
            bodyBytes);
    return new ChatCompletionRequest(in, stream, includeUsage, servedModel);
  }

  private static Message message(
      JsonElement e, int i, List<ImageInput> images, int maxImageBytes, ImageFetcher fetcher) {
    String where = "messages[" + i + "]";
    if (!e.isJsonObject()) throw Rejection.invalid(where + " must be an object {role, content}");
    JsonObject m = e.getAsJsonObject();
    for (String k : m.keySet()) {
      if (!Set.of("role", "content", "name").contains(k)) {
        throw Rejection.invalid(
            where + "." + k + " is not supported; supported: role, content, name");
      }
    }
    String roleName = str(m, "role", null);
    if (roleName == null)
      throw Rejection.invalid(where + ".role is required: system, user or assistant");
    Role role;
    try {
      role = Role.parse(roleName);
    } catch (IllegalArgumentException ex) {
      throw Rejection.invalid(where + ": " + ex.getMessage());
    }
    JsonElement c = m.get("content");
    if (c == null || c.isJsonNull()) {
      throw Rejection.invalid(where + ".content is required: a string or an array of parts");
    }
    if (c.isJsonPrimitive() && c.getAsJsonPrimitive().isString())
      return Message.ofString(role, c.getAsString());
    if (!c.isJsonArray())
      throw Rejection.invalid(where + ".content must be a string or an array of parts");
    List<Part> parts = new ArrayList<>();
    JsonArray ps = c.getAsJsonArray();
    for (int j = 0; j < ps.size(); j++) {
      String pw = where + ".content[" + j + "]";
      if (!ps.get(j).isJsonObject()) throw Rejection.invalid(pw + " must be an object with a type");
      JsonObject p = ps.get(j).getAsJsonObject();
      String type = str(p, "type", null);
      if ("text".equals(type)) {
        String t = str(p, "text", null);
        if (t == null) throw Rejection.invalid(pw + ".text is required for a text part");
        parts.add(Part.text(t));
      } else if ("image_url".equals(type)) {
        JsonElement iu = p.get("image_url");
        String url;
        if (iu != null && iu.isJsonObject()) url = str(iu.getAsJsonObject(), "url", null);
        else if (iu != null && iu.isJsonPrimitive()) url = iu.getAsString();
        else url = null;
        if (url == null) {
          throw Rejection.invalid(
              pw + ".image_url.url is required (a data: URI, e.g. data:image/png;base64,...)");
        }
        parts.add(Part.image("image " + images.size()));
        images.add(new ImageInput(image(url, pw + ".image_url.url", maxImageBytes, fetcher), ""));
      } else {
        throw Rejection.invalid(
            pw + ".type '" + type + "' is not supported; supported: text, image_url");
      }
    }
    return Message.ofParts(role, parts);
  }

  /** A data: URI decoded, or an allowed http(s) URL fetched. */
  static ByteBuffer image(String url, String where, int maxImageBytes, ImageFetcher fetcher) {
    if (url.regionMatches(true, 0, "data:", 0, 5)) {
      int comma = url.indexOf(',');
      if (comma < 0) throw Rejection.invalid(where + ": a data: URI needs a comma before the data");
      String meta = url.substring(5, comma);
      if (!meta.toLowerCase(java.util.Locale.ROOT).endsWith(";base64")) {
        throw Rejection.invalid(
            where + ": only base64 data: URIs are supported (data:image/png;base64,...)");
      }
      // the decoded size is known from the length: refuse before decoding
      long decoded = (long) (url.length() - comma - 1) / 4 * 3;
      if (decoded > maxImageBytes + 3L) {
        throw Rejection.tooLarge(
            where
                + ": the image is about "
                + decoded
                + " bytes; the limit is "
                + maxImageBytes
                + " ("
                + GatewaySettings.MAX_IMAGE_BYTES.env()
                + "="
                + maxImageBytes
                + ")");
      }
      try {
        return ByteBuffer.wrap(Base64.getMimeDecoder().decode(url.substring(comma + 1)));
      } catch (IllegalArgumentException e) {
        throw Rejection.invalid(
            where + ": the data: URI is not valid base64 (" + e.getMessage() + ")");
      }
    }
    if (url.regionMatches(true, 0, "http://", 0, 7)
        || url.regionMatches(true, 0, "https://", 0, 8)) {
      return fetcher.fetch(url, where);
    }
    throw Rejection.invalid(
        where + ": unsupported image URL scheme; send a data: URI (data:image/png;base64,...)");
  }

  private static void zeroOrAbsent(JsonObject o, String k) {
    Float f = number(o, k);
    if (f != null && f != 0f) {
      throw Rejection.invalid(
          k
              + " is not supported; leave it out or set it to 0 (use repetition_penalty or"
              + " no_repeat_ngram_size)");
    }
  }

  private static JsonPrimitive primitive(JsonObject o, String k) {
    JsonElement e = o.get(k);
    if (!e.isJsonPrimitive()) throw Rejection.invalid(k + " must be a " + "value, got " + e);
    return e.getAsJsonPrimitive();
  }

  static String str(JsonObject o, String k, String dflt) {
    JsonElement e = o.get(k);
    if (e == null || e.isJsonNull()) return dflt;
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString())
      throw Rejection.invalid(k + " must be a string");
    return e.getAsString();
  }

  static boolean bool(JsonObject o, String k, boolean dflt) {
    JsonElement e = o.get(k);
    if (e == null || e.isJsonNull()) return dflt;
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
      throw Rejection.invalid(k + " must be true or false");
    }
    return e.getAsBoolean();
  }

  static Integer integer(JsonObject o, String k) {
    JsonElement e = o.get(k);
    if (e == null || e.isJsonNull()) return null;
    return intValue(e, k);
  }

  private static int intValue(JsonElement e, String k) {
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber())
      throw Rejection.invalid(k + " must be an integer");
    try {
      return e.getAsBigDecimal().intValueExact();
    } catch (ArithmeticException | NumberFormatException ex) {
      // NumberFormatException: gson refuses exponents past its scale limit (1e20000) and numbers of
      // more than 10,000 digits; the echo is cut so that such a number does not fill the message
      String got = e.toString();
      if (got.length() > 40) got = got.substring(0, 37) + "...";
      throw Rejection.invalid(k + " must be an integer in the 32-bit range, got " + got);
    }
  }

  static Float number(JsonObject o, String k) {
    JsonElement e = o.get(k);
    if (e == null || e.isJsonNull()) return null;
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber())
      throw Rejection.invalid(k + " must be a number");
    double d = e.getAsDouble();
    if (!Double.isFinite(d)) throw Rejection.invalid(k + " must be a finite number");
    return (float) d;
  }
}
