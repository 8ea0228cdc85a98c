package tandem.gateway;

import com.google.common.util.concurrent.ListenableFuture;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.context.Scope;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import tandem.common.config.ServiceDefaults;
import tandem.gateway.boxes.BoxScanner;
import tandem.gateway.boxes.BoxSpan;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.Grid;
import tandem.gateway.chat.ImageExpansion;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Role;
import tandem.gateway.chat.Segment;
import tandem.gateway.chat.ThinkBlockStripper;
import tandem.gateway.telemetry.ChatTelemetry;
import tandem.gateway.telemetry.ChatTrace;
import tandem.gateway.limits.ClientLimiter;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.limits.InputLimits;
import tandem.gateway.tokenize.IncrementalDetokenizer;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
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
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * One chat: conversation → prompt (Java template) → vision-svc embeddings and tokenization in parallel → image-token
 * expansion → decoder-svc → incremental detokenization, think-block stripping and box parsing → chunks.
 *
 * <p>Backend calls are started on the thread that handles the client's call, so they inherit its gRPC context: the
 * client's deadline and a client cancel propagate to vision-svc and decoder-svc without extra code. A backend that
 * fails before any answer text was sent fails the call with a status naming the backend; once text was streamed, a
 * failure becomes a final chunk with finish reason ERROR (the client never hangs). Tracing rides the same context:
 * with the OpenTelemetry interceptors on the server and on the backend channels, one chat is one trace.
 */
public final class Gateway {
  /** Names used in errors, e.g. {@code vision-svc (10.0.0.3:50052)}. */
  public record Backends(Channel vision, String visionName, Channel decoder, String decoderName) {}

  private final GatewayModel model;
  private final VisionServiceGrpc.VisionServiceFutureStub vision;
  private final DecoderServiceGrpc.DecoderServiceStub decoder;
  private final String visionName;
  private final String decoderName;
  private final ChatTelemetry telemetry;
  private final GatewayLimits limits;

  public Gateway(GatewayModel model, Backends backends) {
    this(model, backends, GatewayLimits.defaults(), ChatTelemetry.noop());
  }

  /** With request limits (prompt tokens, max new tokens, images); per-client limits are {@link tandem.gateway.limits.ClientLimiter}'s. */
  public Gateway(GatewayModel model, Backends backends, GatewayLimits limits) {
    this(model, backends, limits, ChatTelemetry.noop());
  }

  /** @param telemetry traces each chat and records the GenAI server metrics (docs/observability.md) */
  public Gateway(GatewayModel model, Backends backends, ChatTelemetry telemetry) {
    this(model, backends, GatewayLimits.defaults(), telemetry);
  }

  /** With request limits and telemetry. */
  public Gateway(GatewayModel model, Backends backends, GatewayLimits limits, ChatTelemetry telemetry) {
    this.telemetry = telemetry;
    this.model = model;
    this.limits = limits;
    this.vision = VisionServiceGrpc.newFutureStub(backends.vision());
    this.decoder = DecoderServiceGrpc.newStub(backends.decoder());
    this.visionName = backends.visionName();
    this.decoderName = backends.decoderName();
  }

  /** A conversation converted from the proto, with its images in placeholder order. */
  record Conversation(List<Message> messages, List<ImagePart> images) {}

  /** Validates and converts the request with the default input limits. */
  static Conversation conversation(ChatRequest req) {
    return conversation(req, InputLimits.defaults());
  }

  /**
   * Validates and converts the request; a mistake is INVALID_ARGUMENT saying what is allowed. Counts and sizes are
   * checked here, before anything costly: messages, parts per message, text bytes over the whole request, ids.
   */
  static Conversation conversation(ChatRequest req, InputLimits in) {
    if (req.getMessagesCount() == 0) throw invalid("the request has no messages");
    if (req.getMessagesCount() > in.maxMessages()) {
      throw invalid("the request has " + req.getMessagesCount() + " messages; the limit is " + in.maxMessages() + " ("
          + ServiceDefaults.ENV_GATEWAY_MAX_MESSAGES + "=" + in.maxMessages() + ")");
    }
    long textBytes = 0;
    for (int i = 0; i < req.getMessagesCount(); i++) {
      ChatMessage m = req.getMessages(i);
      if (m.getContentCount() > in.maxPartsPerMessage()) {
        throw invalid("message " + i + " has " + m.getContentCount() + " parts; the limit is " + in.maxPartsPerMessage()
            + " (" + ServiceDefaults.ENV_GATEWAY_MAX_PARTS_PER_MESSAGE + "=" + in.maxPartsPerMessage() + ")");
      }
      for (ContentPart p : m.getContentList()) {
        if (p.hasText()) textBytes += InputLimits.utf8Length(p.getText());
      }
      if (textBytes > in.maxTextBytes()) {
        throw invalid("the request has more than " + in.maxTextBytes() + " bytes of text (" + textBytes
            + " by message " + i + "); the limit is " + in.maxTextBytes() + " (" + ServiceDefaults.ENV_GATEWAY_MAX_TEXT_BYTES
            + "=" + in.maxTextBytes() + ")");
      }
    }
    List<Message> messages = new ArrayList<>();
    List<ImagePart> images = new ArrayList<>();
    for (int i = 0; i < req.getMessagesCount(); i++) {
      ChatMessage m = req.getMessages(i);
      Role role;
      try {
        role = Role.parse(m.getRole());
      } catch (IllegalArgumentException e) {
        throw invalid("message " + i + ": " + e.getMessage());
      }
      List<Part> parts = new ArrayList<>();
      for (int j = 0; j < m.getContentCount(); j++) {
        ContentPart p = m.getContent(j);
        switch (p.getPartCase()) {
          case TEXT -> parts.add(Part.text(p.getText()));
          case IMAGE -> {
            ImagePart img = p.getImage();
            if (img.getData().isEmpty() && img.getImageId().isEmpty()) {
              throw invalid("message " + i + " part " + j + ": an image needs data or an image_id");
            }
            in.checkId("message " + i + " part " + j + ": image_id", img.getImageId());
            parts.add(Part.image(img));
            images.add(img);
          }
          default -> throw invalid("message " + i + " part " + j + " is empty; set text or image");
        }
      }
      messages.add(Message.ofParts(role, parts));
    }
    return new Conversation(messages, images);
  }

  private static StatusRuntimeException invalid(String msg) {
    return Status.INVALID_ARGUMENT.withDescription(msg).asRuntimeException();
  }

  /**
   * Runs one chat, writing chunks to {@code out}; call on the gRPC thread of the client's call. Image ids are scoped
   * to the client key that {@link ClientLimiter} put in the call's context (none: the shared empty scope).
   */
  public void chat(ChatRequest req, StreamObserver<ChatChunk> out) {
    long t0 = System.nanoTime();
    // the id is echoed on every chunk and logged: bound it before anything else uses it
    limits.input().checkId("request_id", req.getRequestId());
    String requestId = req.getRequestId().isEmpty() ? UUID.randomUUID().toString() : req.getRequestId();
    ChatTrace trace = telemetry.start(requestId, req);
    if (out instanceof ServerCallStreamObserver<ChatChunk> call) call.setOnCancelHandler(trace::cancelled);
    try {
      chat(req, out, t0, requestId, trace);
    } catch (RuntimeException e) {
      trace.fail(e);
      throw e;
    }
  }

  private void chat(ChatRequest req, StreamObserver<ChatChunk> out, long t0, String requestId, ChatTrace trace) {
    // 1. Shape: bytes, messages, parts, text bytes, ids, then the generation parameters.
    if (req.getSerializedSize() > limits.input().maxRequestBytes()) {
      throw Status.RESOURCE_EXHAUSTED.withDescription("the request is " + req.getSerializedSize() + " bytes; "
          + InputLimits.limit(limits.input().maxRequestBytes(), ServiceDefaults.ENV_GATEWAY_MAX_REQUEST_BYTES))
          .asRuntimeException();
    }
    Conversation conv = conversation(req, limits.input());
    limits.checkImages(conv.images().size());
    limits.checkMaxNewTokens(req.hasParams() && req.getParams().hasMaxNewTokens(), req.getParams().getMaxNewTokens());
    limits.checkParams(req.getParams());
    List<Segment> rendered;
    try {
      rendered =
          ChatTemplate.render(
              conv.messages(),
              !req.hasAddGenerationPrompt() || req.getAddGenerationPrompt(),
              req.hasEnableThinking() ? req.getEnableThinking() : Boolean.FALSE);
    } catch (IllegalArgumentException e) {
      throw invalid(e.getMessage());
    }

    // 2. Text tokens, each part bounded before it reaches the tokenizer. Text that touches an image is merged with
    // the expansion's text later, so here it only gives a lower bound.
    long tTok = System.nanoTime();
    Map<String, int[]> memo = new HashMap<>();
    long textTokens = 0;
    for (int k = 0; k < rendered.size(); k++) {
      Segment s = rendered.get(k);
      if (s instanceof Segment.Special) {
        textTokens++;
        continue;
      }
      if (!(s instanceof Segment.Text t)) continue;
      boolean nextToImage =
          (k > 0 && rendered.get(k - 1) instanceof Segment.Image)
              || (k + 1 < rendered.size() && rendered.get(k + 1) instanceof Segment.Image);
      long atLeast = (InputLimits.utf8Length(t.text()) + model.tokenizer().maxTokenBytes() - 1)
          / model.tokenizer().maxTokenBytes();
      limits.checkTextTokens(textTokens + (nextToImage ? Math.max(0, atLeast - MERGE_SLACK) : atLeast), true);
      int n = memo.computeIfAbsent(t.text(), model.tokenizer()::encodeText).length;
      textTokens += nextToImage ? Math.max(0, n - MERGE_SLACK) : n;
      limits.checkTextTokens(textTokens, true);
    }
    double tokenizeMs = ms(tTok);
    trace.tokenize("text", tTok, tTok + (long) (tokenizeMs * 1e6));

    // 3. Images: vision-svc checks the image-token count from the headers (and the cache) against what the text
    // left of the budget before it decodes or encodes anything.
    ListenableFuture<EmbedResponse> embedding = null;
    long imageBudget = limits.maxPromptTokens() - textTokens;
    if (!conv.images().isEmpty() && imageBudget < (long) conv.images().size() * model.imageSeqLen()) {
      throw invalid("the prompt is " + (textTokens + (long) conv.images().size() * model.imageSeqLen())
          + " tokens or more (text " + textTokens + "+, and " + conv.images().size() + " images of at least "
          + model.imageSeqLen() + " image tokens each; checked before any image was encoded); "
          + InputLimits.limit(limits.maxPromptTokens(), ServiceDefaults.ENV_GATEWAY_MAX_PROMPT_TOKENS)
          + "; shorten the conversation or send fewer or smaller images");
    }
    if (!conv.images().isEmpty()) {
      EmbedRequest.Builder er = EmbedRequest.newBuilder()
          .setMaxImageTokens((int) Math.min(Integer.MAX_VALUE, imageBudget))
          .setClientScope(clientScope());
      for (ImagePart img : conv.images()) {
        er.addImages(ImageInput.newBuilder().setData(img.getData()).setImageId(img.getImageId()));
      }
      try (Scope ignored = trace.visionScope()) {
        embedding = withDefaultDeadline(vision).embed(er.build());
      }
      trace.visionCall(embedding);
    }

    EmbedResponse er = EmbedResponse.getDefaultInstance();
    if (embedding != null) {
      try {
        // the call carries a deadline (the client's or the default), so it ends by then; the wait is bounded anyway
        long waitNanos = Context.current().getDeadline() != null
            ? Context.current().getDeadline().timeRemaining(TimeUnit.NANOSECONDS)
            : TimeUnit.SECONDS.toNanos(limits.backendDeadlineSeconds());
        er = embedding.get(Math.max(0, waitNanos) + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        embedding.cancel(true);
        throw Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded waiting for " + visionName).asRuntimeException();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
      } catch (ExecutionException e) {
        Status st = Status.fromThrowable(e.getCause());
        if (st.getCode() == Status.Code.INVALID_ARGUMENT && st.getDescription() != null
            && st.getDescription().contains("max_image_tokens")) {
          java.util.regex.Matcher m = NEED.matcher(st.getDescription());
          long need = m.find() ? Long.parseLong(m.group(1)) : imageBudget + 1;
          throw invalid("the prompt is " + (textTokens + need) + " tokens or more (text " + textTokens
              + "+, images " + need + ", from the image headers before any image was encoded: " + st.getDescription()
              + "); " + InputLimits.limit(limits.maxPromptTokens(), ServiceDefaults.ENV_GATEWAY_MAX_PROMPT_TOKENS)
              + "; shorten the conversation or send fewer or smaller images");
        }
        throw backendFailure(visionName, e.getCause());
      }
      if (er.getImagesCount() != conv.images().size()) {
        throw Status.INTERNAL
            .withDescription(
                visionName + " returned " + er.getImagesCount() + " embeddings for " + conv.images().size()
                    + " images")
            .asRuntimeException();
      }
    }

    long tTok2 = System.nanoTime();
    List<Grid> grids = new ArrayList<>();
    GenerateRequest.Builder gen = GenerateRequest.newBuilder().setRequestId(requestId);
    for (int k = 0; k < er.getImagesCount(); k++) {
      ImageEmbedding ie = er.getImages(k);
      Grid g;
      try {
        g = new Grid(ie.getRows(), ie.getCols());
      } catch (IllegalArgumentException e) {
        throw Status.INTERNAL.withDescription(visionName + ": " + e.getMessage()).asRuntimeException();
      }
      long rows = ie.getEmbeddings().getShapeCount() > 0 ? ie.getEmbeddings().getShape(0) : -1;
      if (rows != (long) g.tiles() * model.imageSeqLen()) {
        throw Status.INTERNAL
            .withDescription(
                visionName + " returned " + rows + " embedding rows for image " + k + " (grid " + g.rows() + "x"
                    + g.cols() + ", expected " + g.tiles() * model.imageSeqLen() + ")")
            .asRuntimeException();
      }
      grids.add(g);
      gen.addImageEmbeddings(ie.getEmbeddings());
    }
    int[] ids = model.tokenizer().encode(ImageExpansion.expand(rendered, grids, model.imageSeqLen()), memo);
    limits.checkPromptTokens(ids.length);
    int imageTokens = 0;
    for (int id : ids) {
      gen.addInputIds(id);
      if (id == model.imageTokenId()) imageTokens++;
    }
    long tTok3 = System.nanoTime();
    tokenizeMs += (tTok3 - tTok2) / 1e6;
    trace.tokenize("expanded", tTok2, tTok3);
    gen.setImageTokenId(model.imageTokenId());
    if (req.hasParams()) gen.setParams(req.getParams());

    boolean allCached = er.getImagesCount() > 0;
    for (ImageEmbedding ie : er.getImagesList()) allCached &= ie.getCacheHit();
    StageTimings.Builder timings =
        StageTimings.newBuilder()
            .setPreprocessMs(er.getTimings().getPreprocessMs())
            .setVisionMs(er.getTimings().getEncodeMs())
            .setVisionCacheHit(allCached)
            .setTokenizeMs(tokenizeMs);
    ImageEmbedding boxImage = er.getImagesCount() == 0 ? null : er.getImages(er.getImagesCount() - 1);
    Stream stream =
        new Stream(requestId, out, t0, ids.length, imageTokens, timings, boxImage, er.getImagesCount() - 1, trace);
    try (Scope ignored = trace.decodeScope()) {
      withDefaultDeadline(decoder).generate(gen.build(), stream);
    }
  }

  /**
   * Text next to an image is encoded together with the expansion's text; the merge can only re-split the pieces at
   * the two boundaries, so the standalone count minus this is a safe lower bound for the budget check.
   */
  private static final int MERGE_SLACK = 16;

  /** vision-svc's budget refusal: "the images need N image tokens (…)". */
  private static final java.util.regex.Pattern NEED = java.util.regex.Pattern.compile("need (\\d+) image tokens");

  /** The caller's image-id scope ({@link ClientLimiter#IMAGE_SCOPE}), or "" outside a limited server. */
  private static String clientScope() {
    String scope = ClientLimiter.IMAGE_SCOPE.get();
    return scope == null ? "" : scope;
  }

  /** Backend calls carry the client's deadline, or the gateway's default when the client set none. */
  private <S extends io.grpc.stub.AbstractStub<S>> S withDefaultDeadline(S stub) {
    if (Context.current().getDeadline() != null) return stub;
    return stub.withDeadlineAfter(limits.backendDeadlineSeconds(), TimeUnit.SECONDS);
  }

  /** Maps a backend's failure to a status that names the backend. */
  StatusRuntimeException backendFailure(String backend, Throwable t) {
    Status s = Status.fromThrowable(t);
    String what = s.getDescription() == null ? s.getCode().toString() : s.getDescription();
    return switch (s.getCode()) {
      case UNAVAILABLE -> Status.UNAVAILABLE.withDescription(backend + " is unavailable: " + what).asRuntimeException();
      case DEADLINE_EXCEEDED ->
          Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded waiting for " + backend
              + (Context.current().getDeadline() == null ? " (the gateway's default deadline, "
                  + ServiceDefaults.ENV_GATEWAY_BACKEND_DEADLINE_SECONDS + "=" + limits.backendDeadlineSeconds() + ")" : ""))
              .asRuntimeException();
      case CANCELLED -> Status.CANCELLED.withDescription("cancelled while waiting for " + backend).asRuntimeException();
      default -> s.withDescription(backend + ": " + what).asRuntimeException();
    };
  }

  private static double ms(long since) {
    return (System.nanoTime() - since) / 1e6;
  }

  /** Receives the decoder's stream and turns it into chat chunks. gRPC calls it serially. */
  private final class Stream implements StreamObserver<GenerateResponse> {
    private final String requestId;
    private final StreamObserver<ChatChunk> out;
    private final long t0;
    private final int promptTokens;
    private final int imageTokens;
    private final StageTimings.Builder timings;
    private final ImageEmbedding boxImage;
    private final int boxImageIndex;
    private final IncrementalDetokenizer detok;
    private final ThinkBlockStripper think = new ThinkBlockStripper();
    private final BoxScanner boxes = new BoxScanner();
    private long firstToken = -1;
    private long lastToken = -1;
    private long parseNanos;
    private final List<Integer> generatedIds = new ArrayList<>();
    private boolean sentAnything;
    private GenerateFinal fin;
    private final ChatTrace trace;
    private int boxCount;

    Stream(
        String requestId,
        StreamObserver<ChatChunk> out,
        long t0,
        int promptTokens,
        int imageTokens,
        StageTimings.Builder timings,
        ImageEmbedding boxImage,
        int boxImageIndex,
        ChatTrace trace) {
      this.trace = trace;
      this.requestId = requestId;
      this.out = out;
      this.t0 = t0;
      this.promptTokens = promptTokens;
      this.imageTokens = imageTokens;
      this.timings = timings;
      this.boxImage = boxImage;
      this.boxImageIndex = boxImageIndex;
      this.detok = new IncrementalDetokenizer(model.tokenizer(), true);
    }

    private boolean clientGone() {
      return out instanceof ServerCallStreamObserver<ChatChunk> s && s.isCancelled();
    }

    @Override
    public void onNext(GenerateResponse r) {
      if (clientGone()) return;
      if (r.hasTokens()) {
        long now = System.nanoTime();
        if (firstToken < 0) {
          firstToken = now;
          trace.firstToken(now);
        }
        lastToken = now;
        for (int id : r.getTokens().getIdsList()) {
          generatedIds.add(id);
          emitText(think.push(detok.push(id)));
        }
      } else if (r.hasFinal()) {
        fin = r.getFinal();
      }
    }

    private void emitText(String delta) {
      if (delta.isEmpty()) return;
      send(ChatChunk.newBuilder().setRequestId(requestId).setDelta(delta).build());
      long p = System.nanoTime();
      List<BoxSpan> closed = boxes.push(delta);
      parseNanos += System.nanoTime() - p;
      for (BoxSpan b : closed) sendBox(b);
    }

    private void sendBox(BoxSpan b) {
      Box.Builder box = Box.newBuilder().setLabel(b.label()).setRaw(b.raw()).setParsed(b.parsed());
      box.setImageIndex(boxImageIndex);
      if (b.parsed()) {
        for (double d : b.norm()) box.addNorm(d);
        if (boxImage != null) {
          for (double d : b.pixels(boxImage.getWidth(), boxImage.getHeight())) box.addPixels(d);
        }
      }
      boxCount++;
      send(ChatChunk.newBuilder().setRequestId(requestId).setBox(box).build());
    }

    private void send(ChatChunk c) {
      sentAnything = true;
      out.onNext(c);
    }

    @Override
    public void onError(Throwable t) {
      if (clientGone()) return;
      StatusRuntimeException e = backendFailure(decoderName, t);
      if (!sentAnything) {
        trace.fail(e);
        out.onError(e);
        return;
      }
      // Text already reached the client: end the stream with an error chunk it can show.
      flushText();
      out.onNext(finalChunk(FinishReason.FINISH_REASON_ERROR, e.getStatus().getDescription()));
      out.onCompleted();
    }

    @Override
    public void onCompleted() {
      if (clientGone()) return;
      flushText();
      if (fin == null) {
        out.onNext(finalChunk(FinishReason.FINISH_REASON_ERROR, decoderName + " ended the stream without a final message"));
      } else if (fin.getFinishReason() == FinishReason.FINISH_REASON_ERROR) {
        out.onNext(finalChunk(FinishReason.FINISH_REASON_ERROR, decoderName + ": " + fin.getError()));
      } else {
        out.onNext(finalChunk(fin.getFinishReason(), ""));
      }
      out.onCompleted();
    }

    private void flushText() {
      emitText(think.push(detok.flush()));
      emitText(think.flush());
      long p = System.nanoTime();
      List<BoxSpan> cut = boxes.finish();
      parseNanos += System.nanoTime() - p;
      for (BoxSpan b : cut) sendBox(b);
    }

    private ChatChunk finalChunk(FinishReason reason, String error) {
      timings.setParseMs(parseNanos / 1e6).setTotalMs(ms(t0));
      if (firstToken >= 0) timings.setTimeToFirstTokenMs((firstToken - t0) / 1e6);
      if (fin != null) {
        timings.setPrefillMs(fin.getPrefillMs()).setDecodeMs(fin.getDecodeMs());
      } else if (firstToken >= 0) {
        timings.setDecodeMs((lastToken - firstToken) / 1e6);
      }
      int completion = fin != null && fin.getGeneratedTokens() > 0 ? fin.getGeneratedTokens() : generatedIds.size();
      ChatFinal.Builder f =
          ChatFinal.newBuilder()
              .setFinishReason(reason)
              .setUsage(
                  Usage.newBuilder()
                      .setPromptTokens(promptTokens)
                      .setImageTokens(imageTokens)
                      .setCompletionTokens(completion))
              .setTimings(timings)
              .addAllCompletionIds(generatedIds)
              .setError(error)
              .setTraceId(trace.traceId());
      trace.finish(reason, promptTokens, imageTokens, completion, boxCount, firstToken, lastToken, parseNanos, error);
      return ChatChunk.newBuilder().setRequestId(requestId).setFinal(f).build();
    }
  }
}
