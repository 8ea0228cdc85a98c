package tandem.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.cli.chat.BoxDrawer;
import tandem.cli.chat.ConversationInput;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.proto.gateway.v1.Box;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.StageTimings;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/**
 * {@code vlm chat}: streams an answer from a gateway. Terminal mode prints the text as it arrives,
 * then the boxes as a table, draws them on the image and prints one timing line. {@code --json}
 * prints one JSON object per chunk and, last, {@code {"text", "ids", "boxes", "finish_reason",
 * "usage", "timings"}} (outside checks use it; keep it stable).
 */
@Command(
    name = "chat",
    mixinStandardHelpOptions = true,
    description =
        "Ask about images; streams the answer, boxes and per-stage timings from a gateway.")
public final class ChatCommand implements Callable<Integer> {
  /**
   * Opens a channel to an embedded (all-in-one) gateway for a checkpoint when no --server is given.
   * The all-in-one wiring sets it; until then --server is required.
   */
  public interface EmbeddedGateway {
    ManagedChannel open(Path model) throws IOException;
  }

  private static volatile EmbeddedGateway embedded;

  public static void setEmbeddedGateway(EmbeddedGateway e) {
    embedded = e;
  }

  /**
   * The hook set by {@link #setEmbeddedGateway}, or null; {@code vlm eval grounding --model} uses
   * it too.
   */
  static EmbeddedGateway embeddedGateway() {
    return embedded;
  }

  @Spec CommandSpec spec;

  @Option(
      names = "--server",
      description = "Gateway address host:port (default: an embedded all-in-one server).")
  String server;

  /** TLS and bearer token for --server. */
  @Mixin ClientOptions client = new ClientOptions();

  @Option(
      names = "--model",
      description =
          "Checkpoint folder or Hub repo id org/name[@rev] for the embedded server (default:"
              + " $TANDEM_MODEL).")
  Path model;

  @Mixin ConversationOptions conversation = new ConversationOptions();

  @Option(
      names = "--json",
      description = "One JSON object per chunk, then a summary object (last line).")
  boolean json;

  @Option(
      names = "--out",
      description =
          "Where to write the image with boxes drawn (default: IMAGE.boxes.png next to it; with"
              + " --json only when given, named as image_out in the summary).")
  Path out;

  @Option(
      names = "--enable-thinking",
      description = "Hugging Face enable_thinking=True (default false).")
  boolean enableThinking;

  @Option(
      names = "--add-generation-prompt",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description = "Append the assistant header (default true).")
  boolean addGenerationPrompt;

  @Option(names = "--max-new-tokens", description = "Maximum new tokens.")
  Integer maxNewTokens;

  @Option(
      names = "--min-new-tokens",
      description = "Stop tokens are blocked until this many were generated.")
  Integer minNewTokens;

  @Option(
      names = "--no-repeat-ngram-size",
      description = "Ban repeated n-grams of this size (0 disables).")
  Integer noRepeatNgramSize;

  @Option(names = "--temperature", description = "0 = greedy.")
  Float temperature;

  @Option(names = "--top-p", description = "Nucleus sampling threshold in (0, 1].")
  Float topP;

  @Option(names = "--top-k", description = "Keep the k most likely tokens (0 disables).")
  Integer topK;

  @Option(names = "--seed", description = "Sampling seed.")
  Long seed;

  @Option(
      names = "--timeout",
      defaultValue = "600",
      description = "Deadline for the whole chat, seconds (default 600).")
  double timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    ConversationInput conv = conversation.read();
    ChatRequest req = request(conv);
    ManagedChannel channel = open();
    try {
      return run(channel, req, conv);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private ManagedChannel open() throws IOException {
    if (server != null) return client.open(server);
    client.rejectAll("--server (the embedded server is reached in-process)");
    EmbeddedGateway e = embedded;
    if (e == null) {
      throw new UserError(
          "no --server given and this build has no embedded server; start a gateway (vlm serve"
              + " gateway) and pass --server host:"
              + ServiceDefaults.GATEWAY_PORT);
    }
    Path m = ModelArg.resolve((model != null ? model : pathFromEnv()).toString());
    return e.open(m);
  }

  private static Path pathFromEnv() {
    String v = System.getenv(CommonSettings.MODEL.env());
    if (v == null || v.isBlank())
      throw new UserError(
          "give --model DIR (or set " + CommonSettings.MODEL.env() + ") or --server ADDR");
    return Path.of(v);
  }

  ChatRequest request(ConversationInput conv) {
    GenerationParams.Builder p = GenerationParams.newBuilder();
    if (maxNewTokens != null) {
      if (maxNewTokens < 1)
        throw new UserError("--max-new-tokens must be at least 1, got " + maxNewTokens);
      p.setMaxNewTokens(maxNewTokens);
    }
    if (minNewTokens != null) {
      if (minNewTokens < 0)
        throw new UserError("--min-new-tokens must be >= 0, got " + minNewTokens);
      p.setMinNewTokens(minNewTokens);
    }
    if (noRepeatNgramSize != null) {
      if (noRepeatNgramSize < 0)
        throw new UserError("--no-repeat-ngram-size must be >= 0, got " + noRepeatNgramSize);
      p.setNoRepeatNgramSize(noRepeatNgramSize);
    }
    if (temperature != null) {
      if (!(temperature >= 0) || temperature.isInfinite())
        throw new UserError("--temperature must be >= 0 (0 = greedy), got " + temperature);
      p.setTemperature(temperature);
    }
    if (topP != null) {
      if (!(topP > 0 && topP <= 1)) throw new UserError("--top-p must be in (0, 1], got " + topP);
      p.setTopP(topP);
    }
    if (topK != null) {
      if (topK < 0) throw new UserError("--top-k must be >= 0, got " + topK);
      p.setTopK(topK);
    }
    if (seed != null) p.setSeed(seed);
    if (!(timeoutSeconds > 0))
      throw new UserError("--timeout must be positive, got " + timeoutSeconds);
    return ChatRequest.newBuilder()
        .addAllMessages(conv.toProto())
        .setParams(p)
        .setAddGenerationPrompt(addGenerationPrompt)
        .setEnableThinking(enableThinking)
        .build();
  }

  /** Runs one chat over {@code channel} (a remote gateway or an embedded one) and prints it. */
  public int run(Channel channel, ChatRequest req, ConversationInput conv) throws IOException {
    PrintWriter o = spec.commandLine().getOut();
    Iterator<ChatChunk> it =
        ChatServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter((long) (timeoutSeconds * 1000), TimeUnit.MILLISECONDS)
            .chat(req);
    StringBuilder text = new StringBuilder();
    List<Box> boxes = new ArrayList<>();
    ChatFinal fin = null;
    try {
      while (it.hasNext()) {
        ChatChunk c = it.next();
        if (c.hasDelta()) {
          text.append(c.getDelta());
          if (json) {
            JsonObject j = new JsonObject();
            j.addProperty("delta", c.getDelta());
            o.println(PromptCommand.JSON.toJson(j));
          } else {
            o.print(c.getDelta());
          }
          o.flush();
        } else if (c.hasBox()) {
          boxes.add(c.getBox());
          if (json) {
            JsonObject j = new JsonObject();
            j.add("box", box(c.getBox()));
            o.println(PromptCommand.JSON.toJson(j));
            o.flush();
          }
        } else if (c.hasFinal()) {
          fin = c.getFinal();
          if (json) {
            JsonObject j = new JsonObject();
            j.add("final", finalJson(fin));
            o.println(PromptCommand.JSON.toJson(j));
          }
        }
      }
    } catch (StatusRuntimeException e) {
      if (!json) o.println();
      o.flush();
      throw new UserError(client.describe(e));
    }
    if (fin == null) throw new UserError("the gateway ended the stream without a final chunk");

    String notDrawn; // why an explicit --out was not written
    if (json) {
      JsonObject sum = finalJson(fin);
      JsonObject s = new JsonObject();
      s.addProperty("text", text.toString());
      s.add("ids", sum.remove("ids"));
      JsonArray bs = new JsonArray();
      for (Box b : boxes) bs.add(box(b));
      s.add("boxes", bs);
      for (String k : List.of("finish_reason", "usage", "timings", "error", "trace_id")) {
        if (sum.has(k)) s.add(k, sum.get(k));
      }
      // machine mode draws only when asked to (--out), and says where in the summary
      notDrawn = out != null ? drawBoxes(null, boxes, conv) : null;
      if (drawnTo != null) s.addProperty("image_out", drawnTo.toString());
      o.println(PromptCommand.JSON.toJson(s));
      o.flush();
    } else {
      o.println();
      printBoxes(o, boxes);
      notDrawn = drawBoxes(o, boxes, conv);
      o.println(timingLine(fin));
      o.flush();
    }
    if (notDrawn != null) {
      // the file that was asked for is missing: no success, whatever the answer was
      spec.commandLine().getErr().println("vlm: error: " + notDrawn);
      return 2;
    }
    if (fin.getFinishReason() == FinishReason.FINISH_REASON_ERROR) {
      spec.commandLine().getErr().println("vlm: error: " + fin.getError());
      return 1;
    }
    return 0;
  }

  private void printBoxes(PrintWriter o, List<Box> boxes) {
    if (boxes.isEmpty()) return;
    o.printf("%-3s %-16s %-26s %s%n", "#", "label", "per-mille x1,y1,x2,y2", "pixels x1,y1,x2,y2");
    int k = 0;
    for (Box b : boxes) {
      k++;
      if (!b.getParsed()) {
        o.printf("%-3d (unparsed) %s%n", k, b.getRaw().replace('\n', ' '));
        continue;
      }
      o.printf(
          "%-3d %-16s %-26s %s%n",
          k,
          b.getLabel().isEmpty() ? "-" : b.getLabel(),
          join(b.getNormList()),
          b.getPixelsCount() == 4 ? join(b.getPixelsList()) : "-");
    }
  }

  /** Where {@link #drawBoxes} wrote the image, or null. */
  private Path drawnTo;

  /**
   * Draws the boxes (and says where on {@code o}, unless null); returns what went wrong when an
   * explicit {@code --out} could not be written (the default file next to the image is a
   * convenience: its failure is a warning), else null.
   */
  private String drawBoxes(PrintWriter o, List<Box> boxes, ConversationInput conv) {
    if (boxes.stream().noneMatch(Box::getParsed) || conv.images().isEmpty()) return null;
    int idx = boxes.get(0).getImageIndex();
    if (idx < 0 || idx >= conv.images().size()) idx = conv.images().size() - 1;
    Path image = conv.images().get(idx);
    Path target = out != null ? out : BoxDrawer.defaultOut(image);
    BoxDrawer d = new BoxDrawer();
    try {
      d.draw(image, boxes, target);
      drawnTo = target;
      if (o != null) o.println("boxes drawn on " + target + " (" + d.fontNote() + ")");
      return null;
    } catch (IOException | RuntimeException e) {
      String why = "could not draw the boxes on " + target + ": " + e;
      if (out != null) return why;
      spec.commandLine().getErr().println("vlm: warning: " + why);
      return null;
    }
  }

  private static String join(List<Double> v) {
    StringBuilder sb = new StringBuilder();
    for (double d : v) {
      if (sb.length() > 0) sb.append(',');
      sb.append(Math.round(d));
    }
    return sb.toString();
  }

  static String timingLine(ChatFinal f) {
    StageTimings t = f.getTimings();
    int n = f.getUsage().getCompletionTokens();
    double tps = t.getDecodeMs() > 0 && n > 1 ? (n - 1) * 1000.0 / t.getDecodeMs() : 0;
    return String.format(
            Locale.ROOT,
            "timings: preprocess %.0f ms | vision %.0f ms (%s) | tokenize %.1f ms | prefill %.0f ms"
                + " | first token %.0f ms | decode %.0f ms (%d tokens, %.1f tok/s) | parse %.2f ms"
                + " | total %.0f ms | %s, prompt %d tokens (%d image)",
            t.getPreprocessMs(),
            t.getVisionMs(),
            t.getVisionCacheHit() ? "cache hit" : "computed",
            t.getTokenizeMs(),
            t.getPrefillMs(),
            t.getTimeToFirstTokenMs(),
            t.getDecodeMs(),
            n,
            tps,
            t.getParseMs(),
            t.getTotalMs(),
            reason(f.getFinishReason()),
            f.getUsage().getPromptTokens(),
            f.getUsage().getImageTokens())
        + (f.getTraceId().isEmpty() ? "" : " | trace " + f.getTraceId());
  }

  static String reason(FinishReason r) {
    return switch (r) {
      case FINISH_REASON_STOP -> "stop";
      case FINISH_REASON_LENGTH -> "length";
      case FINISH_REASON_CANCELLED -> "cancelled";
      case FINISH_REASON_ERROR -> "error";
      default -> "unspecified";
    };
  }

  static JsonObject box(Box b) {
    JsonObject j = new JsonObject();
    j.addProperty("label", b.getLabel());
    j.addProperty("parsed", b.getParsed());
    JsonArray n = new JsonArray();
    b.getNormList().forEach(n::add);
    j.add("norm", n);
    JsonArray p = new JsonArray();
    b.getPixelsList().forEach(p::add);
    j.add("pixels", p);
    j.addProperty("image_index", b.getImageIndex());
    j.addProperty("raw", b.getRaw());
    return j;
  }

  static JsonObject finalJson(ChatFinal f) {
    JsonObject j = new JsonObject();
    j.addProperty("finish_reason", reason(f.getFinishReason()));
    JsonArray ids = new JsonArray();
    f.getCompletionIdsList().forEach(ids::add);
    j.add("ids", ids);
    JsonObject u = new JsonObject();
    u.addProperty("prompt_tokens", f.getUsage().getPromptTokens());
    u.addProperty("image_tokens", f.getUsage().getImageTokens());
    u.addProperty("completion_tokens", f.getUsage().getCompletionTokens());
    u.addProperty("cached_prompt_tokens", f.getUsage().getCachedPromptTokens());
    j.add("usage", u);
    StageTimings t = f.getTimings();
    JsonObject tj = new JsonObject();
    tj.addProperty("preprocess_ms", t.getPreprocessMs());
    tj.addProperty("vision_ms", t.getVisionMs());
    tj.addProperty("vision_cache_hit", t.getVisionCacheHit());
    tj.addProperty("tokenize_ms", t.getTokenizeMs());
    tj.addProperty("prefill_ms", t.getPrefillMs());
    tj.addProperty("time_to_first_token_ms", t.getTimeToFirstTokenMs());
    tj.addProperty("decode_ms", t.getDecodeMs());
    tj.addProperty("parse_ms", t.getParseMs());
    tj.addProperty("total_ms", t.getTotalMs());
    j.add("timings", tj);
    if (!f.getError().isEmpty()) j.addProperty("error", f.getError());
    if (!f.getTraceId().isEmpty()) j.addProperty("trace_id", f.getTraceId());
    return j;
  }
}
