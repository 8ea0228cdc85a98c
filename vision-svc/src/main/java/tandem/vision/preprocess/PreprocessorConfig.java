package tandem.vision.preprocess;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The checkpoint's {@code preprocessor_config.json} (SmolVLM / Idefics3 image processor), key for
 * key, plus {@code image_seq_len} from {@code processor_config.json}. Missing keys take HF
 * SmolVLMImageProcessor's constructor defaults ({@link #hfClassDefaults()}).
 *
 * @param size {@code size.longest_edge}: first resize target (also upscales)
 * @param resample Pillow filter id: 1 LANCZOS (the only one the checkpoints use) or 0 NEAREST
 * @param maxImageSize {@code max_image_size.longest_edge}: tile side and global-image side
 * @param imageSeqLen tokens per tile in the prompt (processor_config.json)
 */
public record PreprocessorConfig(
    boolean doConvertRgb,
    boolean doResize,
    LongestEdge size,
    int resample,
    boolean doImageSplitting,
    LongestEdge maxImageSize,
    boolean doRescale,
    double rescaleFactor,
    boolean doNormalize,
    List<Double> imageMean,
    List<Double> imageStd,
    boolean doPad,
    int imageSeqLen) {

  /** A {@code {"longest_edge": N}} object. */
  public record LongestEdge(int longestEdge) {
    public LongestEdge {
      if (longestEdge <= 0)
        throw new IllegalArgumentException("longest_edge must be positive, got " + longestEdge);
    }
  }

  public static final int RESAMPLE_NEAREST = 0;
  public static final int RESAMPLE_LANCZOS = 1;

  public PreprocessorConfig {
    if (resample != RESAMPLE_NEAREST && resample != RESAMPLE_LANCZOS) {
      throw new IllegalArgumentException(
          "resample " + resample + " is not supported (allowed: 1 LANCZOS, 0 NEAREST)");
    }
    if (maxImageSize.longestEdge() > 8192) {
      throw new IllegalArgumentException(
          "max_image_size.longest_edge " + maxImageSize.longestEdge() + " is over 8192");
    }
    if (size.longestEdge() > 8192) {
      throw new IllegalArgumentException(
          "size.longest_edge " + size.longestEdge() + " is over 8192");
    }
    imageMean = List.copyOf(imageMean);
    imageStd = List.copyOf(imageStd);
    if (imageMean.size() != 3 || imageStd.size() != 3) {
      throw new IllegalArgumentException(
          "image_mean and image_std need 3 values (RGB), got " + imageMean + " " + imageStd);
    }
    for (double s : imageStd) {
      if (s == 0.0) throw new IllegalArgumentException("image_std must not contain 0: " + imageStd);
    }
    if (!(rescaleFactor > 0)) {
      throw new IllegalArgumentException("rescale_factor must be positive, got " + rescaleFactor);
    }
    if (imageSeqLen <= 0)
      throw new IllegalArgumentException("image_seq_len must be positive, got " + imageSeqLen);
  }

  /**
   * SmolVLM2's released {@code preprocessor_config.json}: longest edge 2048, tiles of 512, 64
   * tokens per tile.
   */
  public static PreprocessorConfig smolVlmDefaults() {
    return new PreprocessorConfig(
        true,
        true,
        new LongestEdge(2048),
        RESAMPLE_LANCZOS,
        true,
        new LongestEdge(512),
        true,
        1.0 / 255,
        true,
        List.of(0.5, 0.5, 0.5),
        List.of(0.5, 0.5, 0.5),
        true,
        64);
  }

  /**
   * The defaults of HF's {@code SmolVLMImageProcessor} constructor, used for keys a config file
   * leaves out (note: longest edge 4·364 and tiles of 364, not the 2048/512 that SmolVLM2's
   * released config sets).
   */
  public static PreprocessorConfig hfClassDefaults() {
    return new PreprocessorConfig(
        true,
        true,
        new LongestEdge(4 * 364),
        RESAMPLE_LANCZOS,
        true,
        new LongestEdge(364),
        true,
        1.0 / 255,
        true,
        List.of(0.5, 0.5, 0.5),
        List.of(0.5, 0.5, 0.5),
        true,
        64);
  }

  /**
   * Reads {@code preprocessor_config.json} (required) and {@code processor_config.json} (optional)
   * from a checkpoint.
   */
  public static PreprocessorConfig fromDir(Path dir) throws IOException {
    Path pre = dir.resolve("preprocessor_config.json");
    if (!Files.isRegularFile(pre)) throw new IOException("no preprocessor_config.json in " + dir);
    Path proc = dir.resolve("processor_config.json");
    String procJson =
        Files.isRegularFile(proc) ? Files.readString(proc, StandardCharsets.UTF_8) : null;
    try {
      return fromJson(Files.readString(pre, StandardCharsets.UTF_8), procJson);
    } catch (IllegalArgumentException e) {
      throw new IOException(pre + ": " + e.getMessage(), e);
    }
  }

  /** Parses {@code preprocessor_config.json} alone (image_seq_len takes its default, 64). */
  public static PreprocessorConfig fromJson(String preprocessorJson) {
    return fromJson(preprocessorJson, null);
  }

  /**
   * Parses the two JSON documents; {@code processorJson} may be null. Unknown keys are ignored, as
   * HF does.
   */
  public static PreprocessorConfig fromJson(String preprocessorJson, String processorJson) {
    JsonObject o;
    try {
      o = JsonParser.parseString(preprocessorJson).getAsJsonObject();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "preprocessor config is not a JSON object: " + e.getMessage(), e);
    }
    PreprocessorConfig d = hfClassDefaults();
    int seqLen = d.imageSeqLen();
    if (processorJson != null) {
      JsonObject p = JsonParser.parseString(processorJson).getAsJsonObject();
      if (p.has("image_seq_len")) seqLen = p.get("image_seq_len").getAsInt();
    }
    return new PreprocessorConfig(
        bool(o, "do_convert_rgb", d.doConvertRgb()),
        bool(o, "do_resize", d.doResize()),
        longestEdge(o, "size", d.size()),
        o.has("resample") ? o.get("resample").getAsInt() : d.resample(),
        bool(o, "do_image_splitting", d.doImageSplitting()),
        longestEdge(o, "max_image_size", d.maxImageSize()),
        bool(o, "do_rescale", d.doRescale()),
        o.has("rescale_factor") ? o.get("rescale_factor").getAsDouble() : d.rescaleFactor(),
        bool(o, "do_normalize", d.doNormalize()),
        triple(o, "image_mean", d.imageMean()),
        triple(o, "image_std", d.imageStd()),
        bool(o, "do_pad", d.doPad()),
        seqLen);
  }

  /**
   * Every setting that changes the pixel values, in a fixed order, plus an algorithm version. Two
   * configs with the same key give bit-identical pixel values for the same image bytes. (do_pad and
   * image_seq_len do not change a single image's pixels and are left out.)
   */
  public String cacheKey() {
    return "smolvlm-pre-v1"
        + ";convert_rgb="
        + doConvertRgb
        + ";resize="
        + doResize
        + ";size="
        + size.longestEdge()
        + ";resample="
        + resample
        + ";split="
        + doImageSplitting
        + ";max="
        + maxImageSize.longestEdge()
        + ";rescale="
        + doRescale
        + ";factor="
        + rescaleFactor
        + ";normalize="
        + doNormalize
        + ";mean="
        + imageMean
        + ";std="
        + imageStd;
  }

  private static boolean bool(JsonObject o, String key, boolean dflt) {
    return o.has(key) && !o.get(key).isJsonNull() ? o.get(key).getAsBoolean() : dflt;
  }

  private static LongestEdge longestEdge(JsonObject o, String key, LongestEdge dflt) {
    if (!o.has(key) || o.get(key).isJsonNull()) return dflt;
    JsonObject s = o.getAsJsonObject(key);
    if (!s.has("longest_edge")) {
      throw new IllegalArgumentException(
          key + " must be {\"longest_edge\": N} for SmolVLM, got " + s);
    }
    return new LongestEdge(s.get("longest_edge").getAsInt());
  }

  private static List<Double> triple(JsonObject o, String key, List<Double> dflt) {
    if (!o.has(key) || o.get(key).isJsonNull()) return dflt;
    JsonElement e = o.get(key);
    List<Double> out = new ArrayList<>();
    if (e.isJsonArray()) {
      for (JsonElement x : e.getAsJsonArray()) out.add(x.getAsDouble());
    } else {
      double v = e.getAsDouble(); // HF accepts one number for all channels
      out.add(v);
      out.add(v);
      out.add(v);
    }
    return out;
  }
}
