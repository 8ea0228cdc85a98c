package tandem.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tandem.common.io.Npy;
import tandem.vision.preprocess.DecodedImage;
import tandem.vision.preprocess.PreprocessorConfig;
import tandem.vision.preprocess.SmolVlmImageProcessor;

/**
 * {@code vlm preprocess}: one image through the SmolVLM image processor, pixel values to a .npy
 * file. The last stdout line is a JSON object with the grid and the original size (outside checks
 * parse it; keep it stable).
 */
@Command(
    name = "preprocess",
    mixinStandardHelpOptions = true,
    description =
        "Decode, resize and split one image as Hugging Face's SmolVLM processor does; write float32"
            + " pixel values [n,3,512,512] to a .npy file.")
public final class PreprocessCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      required = true,
      description =
          "Checkpoint folder (needs preprocessor_config.json; processor_config.json optional).")
  Path model;

  @Option(
      names = "--image",
      required = true,
      description = "Image file: JPEG, PNG, GIF, BMP or WebP.")
  Path image;

  @Option(names = "--out", required = true, description = "Output .npy file (float32 [n,3,S,S]).")
  Path out;

  @Override
  public Integer call() throws IOException {
    if (!Files.isDirectory(model)) throw new UserError("--model " + model + " is not a folder");
    if (!Files.isRegularFile(model.resolve("preprocessor_config.json"))) {
      throw new UserError("--model " + model + " has no preprocessor_config.json");
    }
    PreprocessorConfig cfg = ImageFiles.processorConfig(model);
    DecodedImage decoded = ImageFiles.decode(image, "--image " + image);
    SmolVlmImageProcessor.Processed p = SmolVlmImageProcessor.preprocess(decoded, cfg);
    Npy.writeFloat32(out, p.pixelValues(), p.tiles(), 3, p.tileSize(), p.tileSize());
    var stdout = spec.commandLine().getOut();
    stdout.println(
        "{\"rows\":"
            + p.rows()
            + ",\"cols\":"
            + p.cols()
            + ",\"width\":"
            + p.width()
            + ",\"height\":"
            + p.height()
            + ",\"tiles\":"
            + p.tiles()
            + "}");
    stdout.flush();
    return 0;
  }
}
