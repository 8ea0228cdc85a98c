package tandem.gateway.grpc;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import tandem.common.error.Rejection;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Role;
import tandem.gateway.limits.InputLimits;
import tandem.gateway.pipeline.ChatEvent;
import tandem.gateway.pipeline.ChatInput;
import tandem.gateway.pipeline.ImageInput;
import tandem.gateway.pipeline.Sampling;
import tandem.proto.gateway.v1.Box;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.gateway.v1.StageTimings;
import tandem.proto.gateway.v1.Usage;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * ChatRequest → {@link ChatInput} and answer events → ChatChunks: the proto side of the gRPC front
 * door.
 */
public final class ProtoChat {
  private ProtoChat() {}

  /** Converts with the default input limits. */
  public static ChatInput input(ChatRequest req) {
    return input(req, InputLimits.defaults());
  }

  /**
   * Validates and converts the request; a mistake is INVALID saying what is allowed. Counts and
   * sizes are checked before converting anything: messages, parts per message, text bytes over the
   * whole request, ids. An empty request id is replaced by a fresh one (it is echoed on every
   * chunk).
   */
  public static ChatInput input(ChatRequest req, InputLimits in) {
    in.checkId("request_id", req.getRequestId());
    in.checkMessages(req.getMessagesCount());
    long textBytes = 0;
    for (int i = 0; i < req.getMessagesCount(); i++) {
      ChatMessage m = req.getMessages(i);
      in.checkParts(i, m.getContentCount());
      for (ContentPart p : m.getContentList()) {
        if (p.hasText()) textBytes += InputLimits.utf8Length(p.getText());
      }
      in.checkTextBytes(textBytes, i);
    }
    List<Message> messages = new ArrayList<>();
    List<ImageInput> images = new ArrayList<>();
    for (int i = 0; i < req.getMessagesCount(); i++) {
      ChatMessage m = req.getMessages(i);
      Role role;
      try {
        role = Role.parse(m.getRole());
      } catch (IllegalArgumentException e) {
        throw Rejection.invalid("message " + i + ": " + e.getMessage());
      }
      List<Part> parts = new ArrayList<>();
      for (int j = 0; j < m.getContentCount(); j++) {
        ContentPart p = m.getContent(j);
        switch (p.getPartCase()) {
          case TEXT -> parts.add(Part.text(p.getText()));
          case IMAGE -> {
            ImagePart img = p.getImage();
            if (img.getData().isEmpty() && img.getImageId().isEmpty()) {
              throw Rejection.invalid(
                  "message " + i + " part " + j + ": an image needs data or an image_id");
            }
            in.checkId("message " + i + " part " + j + ": image_id", img.getImageId());
            parts.add(Part.image("image " + images.size()));
            images.add(new ImageInput(img.getData().asReadOnlyByteBuffer(), img.getImageId()));
          }
          default ->
              throw Rejection.invalid(
                  "message " + i + " part " + j + " is empty; set text or image");
        }
      }
      messages.add(Message.ofParts(role, parts));
    }
    return new ChatInput(
        req.getRequestId().isEmpty() ? UUID.randomUUID().toString() : req.getRequestId(),
        messages,
        images,
        req.hasParams() ? sampling(req.getParams()) : Sampling.defaults(),
        !req.hasAddGenerationPrompt() || req.getAddGenerationPrompt(),
        req.hasEnableThinking() ? req.getEnableThinking() : null,
        req.getStopList(),
        req.getSerializedSize());
  }

  static Sampling sampling(GenerationParams p) {
    return new Sampling(
        p.hasMaxNewTokens() ? p.getMaxNewTokens() : null,
        p.hasMinNewTokens() ? p.getMinNewTokens() : null,
        p.hasNoRepeatNgramSize() ? p.getNoRepeatNgramSize() : null,
        p.hasTemperature() ? p.getTemperature() : null,
        p.hasTopP() ? p.getTopP() : null,
        p.hasTopK() ? p.getTopK() : null,
        p.hasSeed() ? p.getSeed() : null,
        p.hasRepetitionPenalty() ? p.getRepetitionPenalty() : null,
        p.getStopTokenIdsList());
  }

  /** A box event as the proto Box. */
  static Box box(ChatEvent.BoxResult b) {
    Box.Builder box =
        Box.newBuilder()
            .setLabel(b.label())
            .setRaw(b.raw())
            .setParsed(b.parsed())
            .setImageIndex(b.imageIndex());
    for (double d : b.norm()) box.addNorm(d);
    for (double d : b.pixels()) box.addPixels(d);
    return box.build();
  }

  /** The final chunk of a stream. */
  static ChatChunk finalChunk(ChatEvent.ChatResult r) {
    ChatEvent.Timings t = r.timings();
    StageTimings.Builder timings =
        StageTimings.newBuilder()
            .setPreprocessMs(t.preprocessMs())
            .setVisionMs(t.visionMs())
            .setVisionCacheHit(t.visionCacheHit())
            .setTokenizeMs(t.tokenizeMs())
            .setPrefillMs(t.prefillMs())
            .setTimeToFirstTokenMs(t.timeToFirstTokenMs())
            .setDecodeMs(t.decodeMs())
            .setParseMs(t.parseMs())
            .setTotalMs(t.totalMs());
    ChatFinal f =
        ChatFinal.newBuilder()
            .setFinishReason(reason(r.reason()))
            .setUsage(
                Usage.newBuilder()
                    .setPromptTokens(r.usage().promptTokens())
                    .setImageTokens(r.usage().imageTokens())
                    .setCompletionTokens(r.usage().completionTokens())
                    .setCachedPromptTokens(r.usage().cachedPromptTokens()))
            .setTimings(timings)
            .addAllCompletionIds(r.completionIds())
            .setError(r.error())
            .setTraceId(r.traceId())
            .build();
    return ChatChunk.newBuilder().setRequestId(r.requestId()).setFinal(f).build();
  }

  static FinishReason reason(tandem.gateway.pipeline.FinishReason r) {
    return switch (r) {
      case STOP -> FinishReason.FINISH_REASON_STOP;
      case LENGTH -> FinishReason.FINISH_REASON_LENGTH;
      case CANCELLED -> FinishReason.FINISH_REASON_CANCELLED;
      case ERROR -> FinishReason.FINISH_REASON_ERROR;
    };
  }
}
