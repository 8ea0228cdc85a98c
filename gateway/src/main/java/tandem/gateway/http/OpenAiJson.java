package tandem.gateway.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import tandem.gateway.pipeline.ChatEvent;

/**
 * Answer events as OpenAI chat-completion JSON, with Tandem's extensions (docs/http-api.md): {@code
 * tandem_boxes} on the delta (or message) whose text closed them, {@code tandem_timings} and {@code
 * tandem_trace_id} on the last chunk (or the completion).
 */
final class OpenAiJson {
  private OpenAiJson() {}

  static JsonObject chunk(
      String id, long created, String model, JsonObject delta, String finishReason) {
    JsonObject c = new JsonObject();
    c.addProperty("id", id);
    c.addProperty("object", "chat.completion.chunk");
    c.addProperty("created", created);
    c.addProperty("model", model);
    JsonArray choices = new JsonArray();
    if (delta != null) {
      JsonObject ch = new JsonObject();
      ch.addProperty("index", 0);
      ch.add("delta", delta);
      ch.add("logprobs", JsonNull.INSTANCE);
      if (finishReason == null) ch.add("finish_reason", JsonNull.INSTANCE);
      else ch.addProperty("finish_reason", finishReason);
      choices.add(ch);
    }
    c.add("choices", choices);
    return c;
  }

  static JsonObject delta(ChatEvent.Delta d) {
    JsonObject o = new JsonObject();
    if (!d.text().isEmpty()) o.addProperty("content", d.text());
    if (!d.boxes().isEmpty()) {
      JsonArray a = new JsonArray();
      for (ChatEvent.BoxResult b : d.boxes()) a.add(box(b));
      o.add("tandem_boxes", a);
    }
    return o;
  }

  /** One box: label, per-mille box, pixel box (of image {@code image_index}), raw text, parsed. */
  static JsonObject box(ChatEvent.BoxResult b) {
    JsonObject o = new JsonObject();
    o.addProperty("label", b.label());
    o.add("box_per_mille", array(b.norm()));
    o.add("box_pixels", array(b.pixels()));
    o.addProperty("image_index", b.imageIndex());
    o.addProperty("parsed", b.parsed());
    o.addProperty("raw", b.raw());
    return o;
  }

  private static JsonArray array(double[] v) {
    JsonArray a = new JsonArray();
    for (double d : v) a.add(d);
    return a;
  }

  static JsonObject usage(ChatEvent.Usage u) {
    JsonObject o = new JsonObject();
    o.addProperty("prompt_tokens", u.promptTokens());
    o.addProperty("completion_tokens", u.completionTokens());
    o.addProperty("total_tokens", u.promptTokens() + u.completionTokens());
    JsonObject details = new JsonObject();
    details.addProperty("cached_tokens", u.cachedPromptTokens());
    o.add("prompt_tokens_details", details);
    o.addProperty("tandem_image_tokens", u.imageTokens());
    return o;
  }

  static JsonObject timings(ChatEvent.Timings t) {
    JsonObject o = new JsonObject();
    o.addProperty("preprocess_ms", t.preprocessMs());
    o.addProperty("vision_ms", t.visionMs());
    o.addProperty("vision_cache_hit", t.visionCacheHit());
    o.addProperty("tokenize_ms", t.tokenizeMs());
    o.addProperty("prefill_ms", t.prefillMs());
    o.addProperty("time_to_first_token_ms", t.timeToFirstTokenMs());
    o.addProperty("decode_ms", t.decodeMs());
    o.addProperty("parse_ms", t.parseMs());
    o.addProperty("total_ms", t.totalMs());
    return o;
  }

  /** Adds the Tandem fields of a finished answer to a chunk or completion. */
  static void extensions(JsonObject o, ChatEvent.ChatResult r) {
    o.add("tandem_timings", timings(r.timings()));
    o.addProperty("tandem_trace_id", r.traceId());
  }

  static JsonObject completion(
      String id, long created, String model, String text, JsonArray boxes, ChatEvent.ChatResult r) {
    JsonObject c = new JsonObject();
    c.addProperty("id", id);
    c.addProperty("object", "chat.completion");
    c.addProperty("created", created);
    c.addProperty("model", model);
    JsonObject msg = new JsonObject();
    msg.addProperty("role", "assistant");
    msg.addProperty("content", text);
    msg.add("tandem_boxes", boxes);
    JsonObject ch = new JsonObject();
    ch.addProperty("index", 0);
    ch.add("message", msg);
    ch.add("logprobs", JsonNull.INSTANCE);
    ch.addProperty("finish_reason", r.reason().label());
    JsonArray choices = new JsonArray();
    choices.add(ch);
    c.add("choices", choices);
    c.add("usage", usage(r.usage()));
    extensions(c, r);
    return c;
  }
}
