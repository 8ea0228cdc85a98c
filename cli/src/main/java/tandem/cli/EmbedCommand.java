package tandem.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.common.io.Npy;
import tandem.vision.model.VisionOptions;
import tandem.vision.model.VisionTower;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * {@code vlm embed}: tiles through the vision tower + connector, image tokens to a .npy file. Input
 * is either pixel values (float32 [n,3,S,S], e.g. from {@code vlm preprocess}) or an image file
 * preprocessed as the checkpoint says. The last stdout line is a JSON summary (stable: outside
 * checks parse it).
 */
@Command(
    name = "embed",
    mixinStandardHelpOptions = true,
    description =
        "Run the vision tower + connector: write float32 image tokens [n,tokens,hidden] to a .npy"
            + " file.")
public final class EmbedCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      required = true,
      description = "Checkpoint folder (config.json + safetensors).")
  Path model;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Input input;

  static final class Input {
    @Option(names = "--pixels", description = "float32 pixel values [n,3,S,S] (.npy).")
    Path pixels;

    @Option(
        names = "--image",
        description =
            "Image file (JPEG, PNG, GIF, BMP), preprocessed as the checkpoint's"
                + " preprocessor_config.json says.")
    Path image;
  }

  @Option(
      names = "--out",
      required = true,
      description = "Output .npy file (float32 [n,tokens,hidden]).")
  Path out;

  @Option(
      names = "--device",
      defaultValue = "cpu",
      description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
  String device;

  @Option(
      names = "--max-batch-tiles",
      defaultValue = "8",
      description = "Tiles per forward pass (default: ${DEFAULT-VALUE}).")
  int maxBatchTiles;

  @Override
  public Integer call() throws IOException {
    if (!device.equals("cpu") && !device.equals("cuda"))
      throw new UserError("--device " + device + " is not allowed (allowed: cpu, cuda)");
    if (maxBatchTiles < 1)
      throw new UserError("--max-batch-tiles must be at least 1, got " + maxBatchTiles);
    if (!Files.isDirectory(model)) throw new UserError("--model " + model + " is not a folder");
    if (!Files.isRegularFile(model.resolve("config.json")))
      throw new UserError("--model " + model + " has no config.json");

    float[] pixels;
    int tiles;
    String grid = "";
    int side = imageSize();
    if (input.pixels != null) {
      if (!Files.isRegularFile(input.pixels))
        throw new UserError("--pixels " + input.pixels + " is not a readable file");
      Npy.Array a;
      try {
        a = Npy.read(input.pixels);
      } catch (IOException | RuntimeException e) {
        throw new UserError(
            "--pixels " + input.pixels + " is not a readable .npy file: " + e.getMessage());
      }
      long[] s = a.shape();
      if (!a.dtype().equals("<f4")
          || s.length != 4
          || s[0] < 1
          || s[1] != 3
          || s[2] != side
          || s[3] != side)
        throw new UserError(
            "--pixels "
                + input.pixels
                + " is "
                + a.dtype()
                + " "
                + Arrays.toString(s)
                + "; expected float32 (<f4) [n,3,"
                + side
                + ","
                + side
                + "] with n >= 1");
      pixels = a.floats();
      tiles = (int) s[0];
    } else {
      SmolVlmImageProcessor.Processed p = preprocess(input.image);
      if (p.tileSize() != side)
        throw new UserError(
            "the preprocessor makes "
                + p.tileSize()
                + "px tiles but the model takes "
                + side
                + "px");
      pixels = p.pixelValues();
      tiles = p.tiles();
      grid =
          ",\"rows\":"
              + p.rows()
              + ",\"cols\":"
              + p.cols()
              + ",\"width\":"
              + p.width()
              + ",\"height\":"
              + p.height();
    }

    long t0 = System.nanoTime();
    try (VisionTower tower = loadTower()) {
      long t1 = System.nanoTime();
      float[] tokens = tower.encode(pixels, tiles);
      long t2 = System.nanoTime();
      int perTile = tower.dims().tokensPerTile();
      int hidden = tower.dims().textHiddenSize();
      Npy.writeFloat32(out, tokens, tiles, perTile, hidden);
      var stdout = spec.commandLine().getOut();
      stdout.printf(
          Locale.ROOT,
          "{\"tiles\":%d,\"tokens_per_tile\":%d,\"hidden\":%d%s,\"model_id\":\"%s\","
              + "\"device\":\"%s\",\"load_ms\":%.1f,\"encode_ms\":%.1f}%n",
          tiles,
          perTile,
          hidden,
          grid,
          tower.modelId(),
          tower.device(),
          (t1 - t0) / 1e6,
          (t2 - t1) / 1e6);
      stdout.flush();
    }
    return 0;
  }

  private int imageSize() {
    try {
      return tandem.vision.model.VisionDims.of(tandem.common.checkpoint.ModelConfig.fromDir(model))
          .imageSize();
    } catch (IOException | RuntimeException e) {
      throw new UserError("cannot read " + model.resolve("config.json") + ": " + e.getMessage());
    }
  }

  private VisionTower loadTower() {
    try {
      return VisionTower.load(model, new VisionOptions(device, maxBatchTiles));
    } catch (IOException | RuntimeException e) {
      throw new UserError("cannot load the vision tower from " + model + ": " + e.getMessage());
    }
  }

  private SmolVlmImageProcessor.Processed preprocess(Path image) throws IOException {
    PreprocessorConfig cfg = ImageFiles.processorConfig(model);
    return SmolVlmImageProcessor.preprocess(ImageFiles.decode(image, "--image " + image), cfg);
  }
}
