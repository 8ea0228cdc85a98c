package tandem.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.cli.chat.ConversationInput;
import tandem.gateway.chat.ChatTemplate;
import tandem.gateway.chat.Grid;
import tandem.gateway.chat.ImageExpansion;
import tandem.gateway.chat.Segment;
import tandem.gateway.pipeline.GatewayModel;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * {@code vlm prompt}: the exact prompt the gateway would send (template, image-token expansion with
 * the grids of the image processor, token ids). The last stdout line is {@code {"prompt": …,
 * "input_ids": […], "grids": [[r, c], …]}} (outside checks parse it; keep it stable).
 */
@Command(
    name = "prompt",
    mixinStandardHelpOptions = true,
    description = "Print the prompt and input ids the gateway builds for a conversation.")
public final class PromptCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      required = true,
      description = "Checkpoint folder (tokenizer, chat template, processor configs).")
  Path model;

  @Mixin ConversationOptions conversation = new ConversationOptions();

  @Option(
      names = "--enable-thinking",
      description =
          "Hugging Face enable_thinking=True (default false: the empty think block is in the"
              + " prompt).")
  boolean enableThinking;

  @Option(
      names = "--add-generation-prompt",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Append the assistant header (default true; --no-add-generation-prompt reproduces the"
              + " seed demo).")
  boolean addGenerationPrompt;

  @Override
  public Integer call() throws IOException {
    if (!Files.isDirectory(model)) throw new UserError("--model " + model + " is not a folder");
    ConversationInput conv = conversation.read();
    GatewayModel gm;
    try {
      gm = GatewayModel.load(model);
    } catch (IllegalStateException e) {
      throw new UserError(e.getMessage());
    }
    try (gm) {
      var out = spec.commandLine().getOut();
      out.println(JSON.toJson(promptJson(gm, model, conv, addGenerationPrompt, enableThinking)));
      out.flush();
    }
    return 0;
  }

  /**
   * The {"prompt", "input_ids", "grids"} object for a conversation (grids from the checkpoint's
   * image processor).
   */
  static JsonObject promptJson(
      GatewayModel gm,
      Path model,
      ConversationInput conv,
      boolean addGenerationPrompt,
      boolean enableThinking)
      throws IOException {
    List<Grid> grids = grids(model, conv.images());
    List<Segment> rendered;
    try {
      rendered = ChatTemplate.render(conv.messages(), addGenerationPrompt, enableThinking);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    List<Segment> expanded = ImageExpansion.expand(rendered, grids, gm.imageSeqLen());
    int[] ids = gm.tokenizer().encode(expanded);
    JsonObject o = new JsonObject();
    o.addProperty("prompt", Segment.render(expanded));
    JsonArray a = new JsonArray();
    for (int id : ids) a.add(id);
    o.add("input_ids", a);
    JsonArray g = new JsonArray();
    for (Grid grid : grids) {
      JsonArray rc = new JsonArray();
      rc.add(grid.rows());
      rc.add(grid.cols());
      g.add(rc);
    }
    o.add("grids", g);
    return o;
  }

  static final Gson JSON = new GsonBuilder().disableHtmlEscaping().create();

  /** Grids from the checkpoint's image processor settings and each image's decoded size. */
  static List<Grid> grids(Path model, List<Path> images) throws IOException {
    if (images.isEmpty()) return List.of();
    PreprocessorConfig cfg = ImageFiles.processorConfig(model);
    ImageDecoder decoder = ImageDecoder.withDefaults();
    List<Grid> out = new ArrayList<>();
    for (Path p : images) {
      DecodedImage im;
      try {
        im = decoder.decode(Files.readAllBytes(p));
      } catch (ImageDecodeException e) {
        throw new UserError("image " + p + ": " + e.getMessage());
      }
      int[] g = SmolVlmImageProcessor.grid(im.height(), im.width(), cfg);
      out.add(new Grid(g[0], g[1]));
    }
    return out;
  }
}
