package tandem.gateway.pipeline;

import io.opentelemetry.context.Scope;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import tandem.common.error.Rejection;
import tandem.gateway.chat.Grid;
import tandem.gateway.chat.Message;
import tandem.gateway.chat.Part;
import tandem.gateway.chat.Segment;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.limits.GatewayLimits;
import tandem.gateway.limits.InputLimits;
import tandem.gateway.telemetry.ChatTelemetry;
import tandem.gateway.telemetry.ChatTrace;

/**
 * One chat, whichever front door it came through: shape and parameter checks → prompt (Java
 * template) and text tokens → vision-svc embeddings → image-token expansion → decoder-svc → answer
 * events (incremental detokenization, think-block stripping, stop strings, box parsing).
 *
 * <p>It knows no transport: the backends are {@link VisionBackend} and {@link DecoderBackend},
 * refusals are {@link Rejection}s, and the call's deadline, image scope and cancellation come in a
 * {@link CallScope}. A backend that fails before any answer text was sent fails the chat through
 * {@link ChatSink#fail}; once text was sent, a failure becomes a final event with reason ERROR (the
 * client never hangs). A stop string, or the client going away, cancels the decoder call, which
 * frees its sequence.
 */
public final class ChatPipeline {
  private final GatewayModel model;
  private final PromptBuilder prompts;
  private final VisionBackend vision;
  private final DecoderBackend decoder;
  private final ChatTelemetry telemetry;
  private final GatewayLimits limits;

  public ChatPipeline(
      GatewayModel model,
      VisionBackend vision,
      DecoderBackend decoder,
      GatewayLimits limits,
      ChatTelemetry telemetry) {
    this.model = model;
    this.prompts = new PromptBuilder(model.tokenizer(), model.imageSeqLen(), model.imageTokenId());
    this.vision = vision;
    this.decoder = decoder;
    this.limits = limits;
    this.telemetry = telemetry;
  }

  public GatewayLimits limits() {
    return limits;
  }

  public GatewayModel model() {
    return model;
  }

  /**
   * Runs one chat. Checks, tokenization and the vision call run on the calling thread (so a refusal
   * is thrown from here, before anything was sent); the answer then arrives on {@code sink} from
   * decoder-svc's stream.
   *
   * @throws Rejection when the request is refused or a backend fails before the decoder is called
   */
  public void chat(ChatInput in, CallScope scope, ChatSink sink) {
    long t0 = System.nanoTime();
    // the id is echoed on every chunk and logged: bound it before anything else uses it
    limits.input().checkId("request_id", in.requestId());
    String requestId = in.requestId().isEmpty() ? UUID.randomUUID().toString() : in.requestId();
    Sampling p = in.sampling();
    ChatTrace trace =
        telemetry.start(
            requestId,
            in.images().size(),
            p.maxNewTokens(),
            p.temperature(),
            p.topP(),
            p.topK(),
            p.seed());
    scope.onCancel(trace::cancelled);
    try {
      run(in, scope, sink, t0, requestId, trace);
    } catch (RuntimeException e) {
      trace.fail(e);
      throw e;
    }
  }

  /**
   * The request's shape against the input limits: messages, parts per message, text bytes, image
   * ids.
   */
  public static void checkShape(ChatInput in, InputLimits lim) {
    lim.checkMessages(in.messages().size());
    long textBytes = 0;
    for (int i = 0; i < in.messages().size(); i++) {
      Message m = in.messages().get(i);
      lim.checkParts(i, m.parts().size());
      for (Part p : m.parts())
        if (p instanceof Part.Text t) textBytes += InputLimits.utf8Length(t.text());
      lim.checkTextBytes(textBytes, i);
    }
    for (int i = 0; i < in.images().size(); i++)
      lim.checkId("image " + i + ": image_id", in.images().get(i).imageId());
    lim.checkStop(in.stop());
  }

  /**
   * The generation parameters: max/min new tokens under the cap, each value in its valid range, and
   * those whose cost grows with their value (stop ids are checked on every token, the n-gram ban
   * scans the sequence) under their limit.
   */
  public static void checkSampling(Sampling p, GatewayLimits limits) {
    int maxNew = limits.maxNewTokens();
    InputLimits input = limits.input();
    if (p.maxNewTokens() != null) limits.checkMaxNewTokens(true, p.maxNewTokens());
    if (p.minNewTokens() != null && (p.minNewTokens() < 0 || p.minNewTokens() > maxNew)) {
      throw Rejection.invalid(
          "params.min_new_tokens = "
              + p.minNewTokens()
              + " is outside 0.."
              + maxNew
              + " ("
              + GatewaySettings.MAX_NEW_TOKENS.env()
              + "="
              + maxNew
              + ")");
    }
    if (p.noRepeatNgramSize() != null
        && (p.noRepeatNgramSize() < 0 || p.noRepeatNgramSize() > input.maxNoRepeatNgramSize())) {
      throw Rejection.invalid(
          "params.no_repeat_ngram_size = "
              + p.noRepeatNgramSize()
              + " is outside 0.."
              + input.maxNoRepeatNgramSize()
              + "; "
              + InputLimits.limit(
                  input.maxNoRepeatNgramSize(), GatewaySettings.MAX_NO_REPEAT_NGRAM_SIZE.env()));
    }
    if (p.stopTokenIds().size() > input.maxStopTokenIds()) {
      throw Rejection.invalid(
          "params.stop_token_ids has "
              + p.stopTokenIds().size()
              + " ids; "
              + InputLimits.limit(
                  input.maxStopTokenIds(), GatewaySettings.MAX_STOP_TOKEN_IDS.env()));
    }
    for (int i = 0; i < p.stopTokenIds().size(); i++) {
      if (p.stopTokenIds().get(i) < 0) {
        throw Rejection.invalid(
            "params.stop_token_ids[" + i + "] = " + p.stopTokenIds().get(i) + " is negative");
      }
    }
    if (p.temperature() != null && !(p.temperature() >= 0 && p.temperature() <= 100)) {
      throw Rejection.invalid(
          "params.temperature = " + p.temperature() + " is outside 0..100 (0 means greedy)");
    }
    if (p.topP() != null && !(p.topP() > 0 && p.topP() <= 1)) {
      throw Rejection.invalid("params.top_p = " + p.topP() + " is outside (0, 1] (1 disables)");
    }
    if (p.topK() != null && p.topK() < 0) {
      throw Rejection.invalid("params.top_k = " + p.topK() + " is negative (0 disables)");
    }
    if (p.repetitionPenalty() != null
        && !(p.repetitionPenalty() > 0 && p.repetitionPenalty() <= 100)) {
      throw Rejection.invalid(
          "params.repetition_penalty = "
              + p.repetitionPenalty()
              + " is outside (0, 100] (1 disables)");
    }
  }

  private void run(
      ChatInput in, CallScope scope, ChatSink sink, long t0, String requestId, ChatTrace trace) {
    // 1. Shape: bytes, messages, parts, text bytes, ids, then the generation parameters.
    if (in.requestBytes() > limits.input().maxRequestBytes()) {
      throw Rejection.tooLarge(
          "the request is "
              + in.requestBytes()
              + " bytes; "
              + InputLimits.limit(
                  limits.input().maxRequestBytes(), GatewaySettings.MAX_REQUEST_BYTES.env()));
    }
    checkShape(in, limits.input());
    limits.checkImages(in.images().size());
    checkSampling(in.sampling(), limits);
    List<Segment> rendered = prompts.render(in);

    // 2. Text tokens, each part bounded before it reaches the tokenizer.
    long tTok = System.nanoTime();
    Map<String, int[]> memo = new HashMap<>();
    long textTokens = prompts.textTokens(rendered, memo, n -> limits.checkTextTokens(n, true));
    double tokenizeMs = (System.nanoTime() - tTok) / 1e6;
    trace.tokenize("text", tTok, tTok + (long) (tokenizeMs * 1e6));

    // 3. Images: vision-svc checks the image-token count from the headers (and the cache) against
    // what the text
    // left of the budget before it decodes or encodes anything.
    long imageBudget = limits.maxPromptTokens() - textTokens;
    if (!in.images().isEmpty() && imageBudget < (long) in.images().size() * model.imageSeqLen()) {
      throw Rejection.invalid(
          "the prompt is "
              + (textTokens + (long) in.images().size() * model.imageSeqLen())
              + " tokens or more (text "
              + textTokens
              + "+, and "
              + in.images().size()
              + " images of at least "
              + model.imageSeqLen()
              + " image tokens each; checked before any image was encoded); "
              + InputLimits.limit(limits.maxPromptTokens(), GatewaySettings.MAX_PROMPT_TOKENS.env())
              + "; shorten the conversation or send fewer or smaller images");
    }
    VisionBackend.Embedded er = new VisionBackend.Embedded(List.of(), 0, 0, "");
    if (!in.images().isEmpty()) {
      try (Scope ignored = trace.visionScope()) {
        er = vision.embed(in.images(), imageBudget, scope);
      } catch (VisionBackend.ImageBudgetExceeded e) {
        trace.visionFailed(Rejection.Kind.INVALID.code());
        long need = e.need() >= 0 ? e.need() : imageBudget + 1;
        throw Rejection.invalid(
            "the prompt is "
                + (textTokens + need)
                + " tokens or more (text "
                + textTokens
                + "+, images "
                + need
                + ", from the image headers before any image was encoded: "
                + e.getMessage()
                + "); "
                + InputLimits.limit(
                    limits.maxPromptTokens(), GatewaySettings.MAX_PROMPT_TOKENS.env())
                + "; shorten the conversation or send fewer or smaller images");
      } catch (Rejection e) {
        trace.visionFailed(e.kind().code());
        throw e;
      }
      long tiles = 0;
      boolean hit = !er.images().isEmpty();
      for (VisionBackend.Image img : er.images()) {
        tiles += img.tiles();
        hit &= img.cacheHit();
      }
      trace.visionDone(tiles, hit, er.preprocessMs(), er.encodeMs(), er.modelId());
    }

    // 4. The prompt's ids with each image expanded to its grid.
    long tTok2 = System.nanoTime();
    List<Grid> grids = new ArrayList<>();
    List<VisionBackend.EmbeddingHandle> blocks = new ArrayList<>();
    for (int k = 0; k < er.images().size(); k++) {
      VisionBackend.Image ie = er.images().get(k);
      Grid g;
      try {
        g = new Grid(ie.rows(), ie.cols());
      } catch (IllegalArgumentException e) {
        throw new Rejection(Rejection.Kind.INTERNAL, vision.name() + ": " + e.getMessage());
      }
      if (ie.embeddingRows() != (long) g.tiles() * model.imageSeqLen()) {
        throw new Rejection(
            Rejection.Kind.INTERNAL,
            vision.name()
                + " returned "
                + ie.embeddingRows()
                + " embedding rows for image "
                + k
                + " (grid "
                + g.rows()
                + "x"
                + g.cols()
                + ", expected "
                + g.tiles() * model.imageSeqLen()
                + ")");
      }
      grids.add(g);
      blocks.add(ie.embeddings());
    }
    PromptBuilder.Prompt prompt = prompts.ids(rendered, grids, memo);
    limits.checkPromptTokens(prompt.ids().length);
    long tTok3 = System.nanoTime();
    tokenizeMs += (tTok3 - tTok2) / 1e6;
    trace.tokenize("expanded", tTok2, tTok3);

    boolean allCached = !er.images().isEmpty();
    for (VisionBackend.Image ie : er.images()) allCached &= ie.cacheHit();
    VisionBackend.Image boxImage =
        er.images().isEmpty() ? null : er.images().get(er.images().size() - 1);
    Answer answer =
        new Answer(
            requestId,
            sink,
            scope,
            t0,
            prompt,
            er,
            allCached,
            tokenizeMs,
            boxImage,
            er.images().size() - 1,
            in.stop(),
            trace);
    if (scope.isCancelled())
      return; // the client left during the vision call; the trace ended with the cancel
    try (Scope ignored = trace.decodeScope()) {
      answer.started(
          decoder.generate(
              new DecoderBackend.Request(
                  requestId, prompt.ids(), model.imageTokenId(), blocks, in.sampling()),
              scope,
              answer));
    }
  }

  /** Receives decoder-svc's stream and turns it into answer events. Called serially. */
  private final class Answer implements DecoderBackend.Listener {
    private final String requestId;
    private final ChatSink sink;
    private final CallScope scope;
    private final long t0;
    private final int promptTokens;
    private final int imageTokens;
    private final VisionBackend.Embedded vision;
    private final boolean allCached;
    private final double tokenizeMs;
    private final AnswerAssembler assembler;
    private final ChatTrace trace;
    private long firstToken = -1;
    private long lastToken = -1;
    private boolean sentAnything;
    private boolean done;
    private DecoderBackend.Final fin;
    private DecoderBackend.Generation generation;

    Answer(
        String requestId,
        ChatSink sink,
        CallScope scope,
        long t0,
        PromptBuilder.Prompt prompt,
        VisionBackend.Embedded vision,
        boolean allCached,
        double tokenizeMs,
        VisionBackend.Image boxImage,
        int boxImageIndex,
        List<String> stop,
        ChatTrace trace) {
      this.requestId = requestId;
      this.sink = sink;
      this.scope = scope;
      this.t0 = t0;
      this.promptTokens = prompt.ids().length;
      this.imageTokens = prompt.imageTokens();
      this.vision = vision;
      this.allCached = allCached;
      this.tokenizeMs = tokenizeMs;
      this.trace = trace;
      this.assembler =
          new AnswerAssembler(
              model.tokenizer(),
              stop,
              boxImageIndex,
              boxImage == null ? 0 : boxImage.width(),
              boxImage == null ? 0 : boxImage.height(),
              System::nanoTime);
    }

    /**
     * The decoder call is running; a stop string may already have ended the answer on the first
     * tokens.
     */
    synchronized void started(DecoderBackend.Generation g) {
      generation = g;
      if (done) g.cancel();
    }

    @Override
    public synchronized void tokens(int[] ids) {
      if (done || scope.isCancelled()) return;
      long now = System.nanoTime();
      if (firstToken < 0) {
        firstToken = now;
        trace.firstToken(now);
      }
      lastToken = now;
      for (int id : ids) {
        ChatEvent.Delta d = assembler.push(id);
        if (d != null) send(d);
        if (assembler.stopped()) {
          // a stop string ended the answer: free the decoder's sequence and finish without waiting
          // for it
          DecoderBackend.Generation g = generation;
          if (g != null) g.cancel();
          finish(FinishReason.STOP, "");
          return;
        }
      }
    }

    private void send(ChatEvent.Delta d) {
      sentAnything = true;
      sink.event(d);
    }

    @Override
    public synchronized void finalReport(DecoderBackend.Final f) {
      fin = f;
    }

    @Override
    public synchronized void failed(Rejection e) {
      if (done || scope.isCancelled()) return;
      if (!sentAnything) {
        done = true;
        trace.fail(e);
        sink.fail(e);
        return;
      }
      // Text already reached the client: end the stream with an error it can show.
      finish(FinishReason.ERROR, e.getMessage());
    }

    @Override
    public synchronized void completed() {
      if (done || scope.isCancelled()) return;
      if (fin == null) {
        finish(FinishReason.ERROR, decoder.name() + " ended the stream without a final message");
      } else if (fin.reason() == FinishReason.ERROR) {
        finish(FinishReason.ERROR, decoder.name() + ": " + fin.error());
      } else {
        finish(fin.reason(), "");
      }
    }

    private void finish(FinishReason reason, String error) {
      for (ChatEvent.Delta d : assembler.finish()) send(d);
      done = true;
      double totalMs = (System.nanoTime() - t0) / 1e6;
      double ttft = firstToken >= 0 ? (firstToken - t0) / 1e6 : 0;
      double prefillMs = fin != null ? fin.prefillMs() : 0;
      double decodeMs =
          fin != null ? fin.decodeMs() : firstToken >= 0 ? (lastToken - firstToken) / 1e6 : 0;
      // a stop string ends the answer before decoder-svc's count: the ids taken are the count then
      int completion =
          reason != FinishReason.STOP || !assembler.stopped()
              ? (fin != null && fin.generatedTokens() > 0
                  ? fin.generatedTokens()
                  : assembler.generated())
              : assembler.generated();
      int cached = fin != null ? fin.cachedPromptTokens() : 0;
      ChatEvent.Timings timings =
          new ChatEvent.Timings(
              vision.preprocessMs(),
              vision.encodeMs(),
              allCached,
              tokenizeMs,
              prefillMs,
              ttft,
              decodeMs,
              assembler.parseNanos() / 1e6,
              totalMs);
      ChatEvent.Usage usage = new ChatEvent.Usage(promptTokens, imageTokens, completion, cached);
      trace.finish(
          reason.label(),
          promptTokens,
          imageTokens,
          completion,
          assembler.boxCount(),
          firstToken,
          lastToken,
          assembler.parseNanos(),
          error);
      sink.event(
          new ChatEvent.Done(
              new ChatEvent.ChatResult(
                  requestId, reason, usage, timings, trace.traceId(), error, assembler.ids())));
    }
  }
}
