package tandem.cli;

import com.google.gson.JsonObject;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tandem.cli.eval.Answer;
import tandem.cli.eval.CocoDataset;
import tandem.cli.eval.GroundingReport;
import tandem.cli.eval.GroundingRun;
import tandem.cli.eval.HtmlReport;
import tandem.cli.eval.Journal;
import tandem.cli.eval.PredictionsFile;
import tandem.cli.eval.Progress;
import tandem.common.config.CommonSettings;
import tandem.common.config.ServiceDefaults;
import tandem.proto.gateway.v1.Box;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;

/** {@code vlm eval}: quality measurements of a served model. */
@Command(
    name = "eval",
    mixinStandardHelpOptions = true,
    description = "Quality measurements of a served model.",
    subcommands = {EvalCommand.Grounding.class})
public final class EvalCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /**
   * {@code vlm eval grounding}: asks the model to ground every category of every image of a COCO
   * annotation file and scores the boxes COCO-style (docs/eval.md). {@code --predictions} scores a
   * results file instead.
   */
  @Command(
      name = "grounding",
      mixinStandardHelpOptions = true,
      description = {
        "Grounding quality on COCO/Objects365-style annotations: COCO AP (as pycocotools), mean"
            + " IoU, precision and recall at IoU 0.5, unparsable answers; writes"
            + " --out/metrics.json, predictions.json, index.html.",
        "The model gives no scores: each box's confidence is its rank in the answer (1, 1/2, 1/3,"
            + " ...)."
      })
  public static final class Grounding implements Callable<Integer> {
    static final String DEFAULT_PROMPT = "检测图片中的{label}";

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(
        names = "--server",
        description =
            "Gateway address host:port (default: an embedded all-in-one server for --model).")
    String server;

    @Mixin ClientOptions client = new ClientOptions();

    @Option(
        names = "--model",
        description =
            "Checkpoint folder or Hub repo id for the embedded server (default: $TANDEM_MODEL).")
    Path model;

    @Option(
        names = "--annotations",
        required = true,
        paramLabel = "A.json",
        description =
            "COCO detection annotations: images, categories, annotations with bbox [x, y, w, h] in"
                + " pixels.")
    Path annotations;

    @Option(
        names = "--images",
        paramLabel = "DIR",
        description = "Folder the images' file_name is relative to (needed unless --predictions).")
    Path images;

    @Option(
        names = "--predictions",
        paramLabel = "R.json",
        description =
            "Score this COCO results file [{image_id, category_id, bbox, score}] instead of asking"
                + " a model.")
    Path predictions;

    @Option(
        names = "--prompt-template",
        paramLabel = "T",
        defaultValue = DEFAULT_PROMPT,
        description =
            "The question per image and category; {label} becomes the category name (default:"
                + " ${DEFAULT-VALUE}).")
    String promptTemplate;

    @Option(
        names = "--limit",
        paramLabel = "N",
        defaultValue = "0",
        description = "Only the first N images of the file (default: all).")
    int limit;

    @Option(
        names = "--out",
        paramLabel = "DIR",
        defaultValue = "report",
        description = "Report folder (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(
        names = "--concurrency",
        paramLabel = "N",
        defaultValue = "4",
        description =
            "Questions in flight at once (default: ${DEFAULT-VALUE}; the decoder batches them).")
    int concurrency;

    @Option(
        names = "--restart",
        description = "Discard the answers a previous run saved in --out instead of resuming.")
    boolean restart;

    @Option(
        names = "--report-images",
        paramLabel = "N",
        defaultValue = "8",
        description =
            "Worst and best images shown in index.html, each (default: ${DEFAULT-VALUE}).")
    int reportImages;

    @Option(
        names = "--max-new-tokens",
        description = "Maximum new tokens per answer (default: the server's).")
    Integer maxNewTokens;

    @Option(
        names = "--min-new-tokens",
        description =
            "Stop tokens are blocked until this many were generated (default: the server's).")
    Integer minNewTokens;

    @Option(
        names = "--no-repeat-ngram-size",
        description = "Ban repeated n-grams of this size, 0 disables (default: the server's).")
    Integer noRepeatNgramSize;

    @Option(
        names = "--timeout",
        defaultValue = "600",
        description = "Deadline per answer, seconds (default ${DEFAULT-VALUE}).")
    double timeoutSeconds;

    @Override
    public Integer call() throws Exception {
      PrintWriter err = spec.commandLine().getErr();
      checkOptions();
      Progress progress = new Progress(err, tandem.common.hub.ProgressPrinter.stderrIsTerminal());
      CocoDataset data;
      List<String> warnings = new ArrayList<>();
      try {
        data = CocoDataset.load(annotations, warnings::add);
      } catch (CocoDataset.BadInput e) {
        throw new UserError(e.getMessage());
      }
      if (data.images().isEmpty())
        throw new UserError("annotations " + annotations + ": no usable image in it");
      // a resume under other settings is refused before the entries' warnings are printed
      JsonObject settings = predictions == null ? runSettings() : null;
      GroundingReport.Input in;
      JsonObject skipped = new JsonObject();
      try (Journal journal = predictions == null ? openJournal(settings) : null) {
        for (String w : warnings) progress.println("vlm: warning: " + w);
        skipped.addProperty("annotation_entries", data.skippedEntries());
        in =
            predictions != null
                ? scoreFile(data, progress, skipped)
                : ask(data, progress, skipped, journal, settings);
      }
      GroundingReport.Scored scored = GroundingReport.score(in);
      Path dir = out;
      GroundingReport.write(dir, in, scored, imageSource(), reportImages);
      PrintWriter o = spec.commandLine().getOut();
      GroundingReport.printTable(o, in, scored);
      o.println(summary(in, skipped));
      o.println(
          "report: "
              + dir.resolve("index.html")
              + ", "
              + dir.resolve("metrics.json")
              + ", "
              + dir.resolve("predictions.json"));
      o.flush();
      return 0;
    }

    private void checkOptions() {
      if (limit < 0) throw new UserError("--limit must be >= 0 (0 = all images), got " + limit);
      if (concurrency < 1 || concurrency > 256)
        throw new UserError("--concurrency must be in 1..256, got " + concurrency);
      if (reportImages < 1)
        throw new UserError("--report-images must be >= 1, got " + reportImages);
      if (!Files.isRegularFile(annotations))
        throw new UserError("--annotations " + annotations + ": no such file");
      if (predictions != null) {
        if (server != null || model != null)
          throw new UserError("--predictions scores a file: leave out --server and --model");
        if (!Files.isRegularFile(predictions))
          throw new UserError("--predictions " + predictions + ": no such file");
        if (images != null && !Files.isDirectory(images))
          throw new UserError("--images " + images + ": not a folder");
        return;
      }
      if (images == null)
        throw new UserError(
            "give --images DIR (where the annotations' file_name values are), or --predictions"
                + " R.json");
      if (!Files.isDirectory(images)) throw new UserError("--images " + images + ": not a folder");
      if (!promptTemplate.contains("{label}")) {
        throw new UserError(
            "--prompt-template must contain {label} (the category name), got \""
                + promptTemplate
                + "\"");
      }
      if (server != null && model != null)
        throw new UserError("give either --server ADDR or --model M, not both");
      if (maxNewTokens != null && maxNewTokens < 1)
        throw new UserError("--max-new-tokens must be at least 1, got " + maxNewTokens);
      if (minNewTokens != null && minNewTokens < 0)
        throw new UserError("--min-new-tokens must be >= 0, got " + minNewTokens);
      if (noRepeatNgramSize != null && noRepeatNgramSize < 0) {
        throw new UserError("--no-repeat-ngram-size must be >= 0, got " + noRepeatNgramSize);
      }
      if (!(timeoutSeconds > 0))
        throw new UserError("--timeout must be positive, got " + timeoutSeconds);
    }

    private GroundingReport.Input scoreFile(
        CocoDataset data, Progress progress, JsonObject skipped) {
      List<Long> imgs =
          GroundingRun.images(data, limit).stream().map(CocoDataset.Image::id).toList();
      PredictionsFile.Loaded p;
      try {
        p =
            PredictionsFile.read(
                predictions,
                new HashSet<>(data.images().stream().map(CocoDataset.Image::id).toList()),
                new HashSet<>(data.categories().stream().map(CocoDataset.Category::id).toList()),
                line -> progress.println("vlm: warning: " + line));
      } catch (CocoDataset.BadInput e) {
        throw new UserError(e.getMessage());
      }
      skipped.addProperty("prediction_entries", p.skipped());
      JsonObject settings = new JsonObject();
      settings.addProperty("mode", "predictions");
      settings.addProperty("predictions", predictions.toString());
      settings.addProperty("annotations", annotations.toString());
      settings.addProperty("limit", limit);
      return new GroundingReport.Input(data, imgs, p.detections(), null, skipped, settings);
    }

    private GroundingReport.Input ask(
        CocoDataset data,
        Progress progress,
        JsonObject skipped,
        Journal journal,
        JsonObject settings)
        throws Exception {
      GenerationParams params = params();
      ManagedChannel channel = open();
      GroundingRun.Outcome outcome;
      try {
        GroundingRun.Settings s =
            new GroundingRun.Settings(images, promptTemplate, limit, concurrency);
        try {
          outcome =
              GroundingRun.run(
                  data,
                  s,
                  new GrpcAsker(channel, params, timeoutSeconds, client),
                  journal,
                  progress);
        } catch (GroundingRun.AskFailure f) {
          throw new UserError(
              f.getMessage()
                  + "; the answers so far are saved in "
                  + journal.file()
                  + ": run the same command again to continue");
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      skipped.addProperty("missing_images", outcome.missing());
      skipped.addProperty("undecodable_images", outcome.undecodable());
      skipped.addProperty("failed_images", outcome.failed());
      JsonObject report = settings.deepCopy();
      report.addProperty("mode", "model");
      report.addProperty("target", server != null ? server : modelArg());
      report.addProperty("limit", limit);
      report.addProperty("concurrency", concurrency);
      report.addProperty(
          "score", "1 / rank of the box in its answer (the model gives no confidence)");
      report.addProperty("asked", outcome.asked());
      report.addProperty("resumed", outcome.resumed());
      // --predictions on predictions.json scores every image of the file: these are the ones this
      // run could not ask
      com.google.gson.JsonArray left = new com.google.gson.JsonArray();
      outcome.skippedImages().forEach(left::add);
      report.add("skipped_image_ids", left);
      return new GroundingReport.Input(
          data,
          outcome.scoredImages(),
          GroundingRun.detections(data, outcome.scoredImages(), outcome.answers()),
          GroundingRun.answerCounts(outcome.scoredImages(), outcome.answers()),
          skipped,
          report);
    }

    private Journal openJournal(JsonObject settings) throws IOException {
      try {
        return Journal.open(out, settings, restart);
      } catch (Journal.Mismatch e) {
        throw new UserError(e.getMessage());
      }
    }

    /** What an answer depends on: a saved answer is reused only under the same settings. */
    JsonObject runSettings() throws IOException {
      JsonObject s = new JsonObject();
      s.addProperty("annotations_sha256", sha256(annotations));
      s.addProperty("prompt_template", promptTemplate);
      if (server == null && modelArg() != null) s.addProperty("model", modelArg());
      JsonObject p = new JsonObject();
      if (maxNewTokens != null) p.addProperty("max_new_tokens", maxNewTokens);
      if (minNewTokens != null) p.addProperty("min_new_tokens", minNewTokens);
      if (noRepeatNgramSize != null) p.addProperty("no_repeat_ngram_size", noRepeatNgramSize);
      s.add("params", p);
      return s;
    }

    private GenerationParams params() {
      GenerationParams.Builder p = GenerationParams.newBuilder();
      if (maxNewTokens != null) p.setMaxNewTokens(maxNewTokens);
      if (minNewTokens != null) p.setMinNewTokens(minNewTokens);
      if (noRepeatNgramSize != null) p.setNoRepeatNgramSize(noRepeatNgramSize);
      return p.build();
    }

    private ManagedChannel open() throws IOException {
      if (server != null) return client.open(server);
      client.rejectAll("--server (the embedded server is reached in-process)");
      ChatCommand.EmbeddedGateway e = ChatCommand.embeddedGateway();
      if (e == null) {
        throw new UserError(
            "no --server given and this build has no embedded server; start a gateway and pass"
                + " --server host:"
                + ServiceDefaults.GATEWAY_PORT);
      }
      String m = modelArg();
      if (m == null)
        throw new UserError(
            "give --model DIR (or set " + CommonSettings.MODEL.env() + ") or --server ADDR");
      return e.open(ModelArg.resolve(m));
    }

    /** --model, else $TANDEM_MODEL, else null. */
    private String modelArg() {
      if (model != null) return model.toString();
      String v = System.getenv(CommonSettings.MODEL.env());
      return v == null || v.isBlank() ? null : v;
    }

    private HtmlReport.Images imageSource() {
      if (images == null) return null;
      return img -> {
        try {
          return Files.readAllBytes(images.resolve(img.fileName()));
        } catch (IOException | RuntimeException e) {
          return null;
        }
      };
    }

    private static String summary(GroundingReport.Input in, JsonObject skipped) {
      List<String> parts = new ArrayList<>();
      for (String k : skipped.keySet()) {
        int n = skipped.get(k).getAsInt();
        if (n > 0) parts.add(n + " " + k.replace('_', ' '));
      }
      return in.scoredImages().size()
          + " images scored"
          + (parts.isEmpty() ? "" : "; skipped: " + String.join(", ", parts));
    }

    static String sha256(Path f) throws IOException {
      try {
        return HexFormat.of()
            .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /**
   * One grounding question as a Chat stream: the image and the prompt in one user turn, thinking
   * off.
   */
  static final class GrpcAsker implements GroundingRun.Asker {
    private final ManagedChannel channel;
    private final GenerationParams params;
    private final double timeoutSeconds;
    private final ClientOptions client;

    GrpcAsker(
        ManagedChannel channel,
        GenerationParams params,
        double timeoutSeconds,
        ClientOptions client) {
      this.channel = channel;
      this.params = params;
      this.timeoutSeconds = timeoutSeconds;
      this.client = client;
    }

    @Override
    public Answer ask(long imageId, long categoryId, byte[] image, String prompt)
        throws GroundingRun.AskFailure {
      ChatRequest req =
          ChatRequest.newBuilder()
              .setRequestId("eval-" + imageId + "-" + categoryId)
              .addMessages(
                  ChatMessage.newBuilder()
                      .setRole("user")
                      .addContent(
                          ContentPart.newBuilder()
                              .setImage(ImagePart.newBuilder().setData(ByteString.copyFrom(image))))
                      .addContent(ContentPart.newBuilder().setText(prompt)))
              .setParams(params)
              .setAddGenerationPrompt(true)
              .setEnableThinking(false)
              .build();
      StringBuilder text = new StringBuilder();
      List<double[]> boxes = new ArrayList<>();
      int unparsed = 0;
      FinishReason finish = null;
      String error = "";
      try {
        Iterator<ChatChunk> it =
            ChatServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter((long) (timeoutSeconds * 1000), TimeUnit.MILLISECONDS)
                .chat(req);
        while (it.hasNext()) {
          ChatChunk c = it.next();
          if (c.hasDelta()) {
            text.append(c.getDelta());
          } else if (c.hasBox()) {
            Box b = c.getBox();
            if (b.getParsed() && b.getPixelsCount() == 4) {
              boxes.add(
                  new double[] {b.getPixels(0), b.getPixels(1), b.getPixels(2), b.getPixels(3)});
            } else {
              unparsed++;
            }
          } else if (c.hasFinal()) {
            finish = c.getFinal().getFinishReason();
            error = c.getFinal().getError();
          }
        }
      } catch (StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        // refused for this image (bad or too large) or too slow: skip it; anything else would fail
        // every question
        boolean perImage =
            code == Status.Code.INVALID_ARGUMENT
                || code == Status.Code.RESOURCE_EXHAUSTED
                || code == Status.Code.DEADLINE_EXCEEDED
                || code == Status.Code.OUT_OF_RANGE;
        throw new GroundingRun.AskFailure(
            client.describe(e), !perImage || ClientOptions.permanent(e));
      }
      if (finish == null)
        throw new GroundingRun.AskFailure(
            "the gateway ended the stream without a final chunk", false);
      if (finish == FinishReason.FINISH_REASON_ERROR)
        throw new GroundingRun.AskFailure("the answer failed: " + error, false);
      return new Answer(
          imageId, categoryId, boxes, unparsed, text.toString(), ChatCommand.reason(finish));
    }
  }
}
