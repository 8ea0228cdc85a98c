package tandem.vision.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.common.checkpoint.ModelConfig;
import tandem.common.checkpoint.TensorStore;

/**
 * The Idefics3 vision tower plus connector on DJL/PyTorch, float32: tiles [n, 3, S, S] in, image
 * tokens [n, 64, textHidden] out. One root manager owns the weights; each {@link #encode} call runs
 * in a child manager. Calls are serialized (one forward at a time): the service's batcher is the
 * place that merges work.
 */
public final class VisionTower implements TileEncoder, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(VisionTower.class);

  private final VisionDims dims;
  private final VisionOptions options;
  private final NDManager root;
  private final Idefics3VisionTransformer visionModel;
  private final Idefics3Connector connector;
  private final String modelId;
  private List<String> unusedTensors = List.of();

  private VisionTower(
      VisionDims dims,
      VisionOptions options,
      NDManager root,
      Idefics3VisionTransformer vm,
      Idefics3Connector c,
      String modelId) {
    this.dims = dims;
    this.options = options;
    this.root = root;
    this.visionModel = vm;
    this.connector = c;
    this.modelId = modelId;
  }

  /**
   * Loads the tower and connector of the checkpoint in {@code dir} ({@code config.json} +
   * safetensors). Only tensors under the vision and connector prefixes are read; any left unread
   * under those prefixes are reported (they would mean the checkpoint has parts this implementation
   * ignores).
   */
  public static VisionTower load(Path dir, VisionOptions options) throws IOException {
    ModelConfig cfg = ModelConfig.fromDir(dir);
    VisionDims dims = VisionDims.of(cfg);
    try (TensorStore store = TensorStore.open(dir)) {
      VisionTower tower =
          create(store::float32, dims, options, cfg.visionPrefix(), cfg.connectorPrefix());
      List<String> unused =
          store.unused().stream()
              .filter(n -> n.startsWith(cfg.visionPrefix()) || n.startsWith(cfg.connectorPrefix()))
              .toList();
      if (!unused.isEmpty()) LOG.warn("unused vision/connector tensors in {}: {}", dir, unused);
      tower.unusedTensors = unused;
      return tower;
    }
  }

  /**
   * Builds the tower from weights named {@code visionPrefix + …} and {@code connectorPrefix + …}.
   * The model id is the SHA-256 over the dims and the float32 bytes of every tensor read, in load
   * order: it changes exactly when something that affects the embeddings changes (a retrained
   * decoder keeps the vision cache valid).
   */
  public static VisionTower create(
      WeightSource weights,
      VisionDims dims,
      VisionOptions options,
      String visionPrefix,
      String connectorPrefix) {
    MessageDigest sha = sha256();
    sha.update(dims.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    WeightSource hashing =
        (name, shape) -> {
          ByteBuffer b = weights.float32(name, shape);
          sha.update(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
          sha.update(b.duplicate());
          return b;
        };
    NDManager root = NDManager.newBaseManager(device(options.device()));
    try {
      Idefics3VisionTransformer vm =
          Idefics3VisionTransformer.load(root, hashing, visionPrefix, dims);
      Idefics3Connector c = Idefics3Connector.load(root, hashing, connectorPrefix, dims);
      String id = "sha256:" + HexFormat.of().formatHex(sha.digest());
      return new VisionTower(dims, options, root, vm, c, id);
    } catch (RuntimeException e) {
      root.close();
      throw e;
    }
  }

  static Device device(String name) {
    if (name.equals("cuda")) {
      if (Engine.getInstance().getGpuCount() > 0) return Device.gpu();
      LOG.warn("device cuda requested but no GPU is visible to PyTorch; running on cpu");
    }
    return Device.cpu();
  }

  public VisionDims dims() {
    return dims;
  }

  /** "sha256:<hex>" over the weights and shapes this tower uses. */
  public String modelId() {
    return modelId;
  }

  /**
   * Tensors under the vision/connector prefixes that {@link #load} did not read (empty for a clean
   * checkpoint).
   */
  public List<String> unusedTensors() {
    return unusedTensors;
  }

  /** "cpu" or "gpu:N". */
  public String device() {
    Device d = root.getDevice();
    return d.isGpu() ? "gpu:" + d.getDeviceId() : d.getDeviceType();
  }

  /** Floats of one input tile: 3·S·S. */
  @Override
  public int tileFloats() {
    return 3 * dims.imageSize() * dims.imageSize();
  }

  /** Floats of one output tile: tokens·textHidden. */
  @Override
  public int outputFloatsPerTile() {
    return dims.tokensPerTile() * dims.textHiddenSize();
  }

  /**
   * pixelValues float32 [nTiles, 3, S, S] → connector output float32 [nTiles, tokens, textHidden].
   * Tiles go through the network in forward passes of up to {@code maxBatchTiles}.
   */
  @Override
  public synchronized float[] encode(float[] pixelValues, int nTiles) {
    if (nTiles < 1) throw new IllegalArgumentException("nTiles must be >= 1, got " + nTiles);
    long expected = (long) nTiles * tileFloats();
    if (pixelValues.length != expected)
      throw new IllegalArgumentException(
          "pixel values hold "
              + pixelValues.length
              + " floats; "
              + nTiles
              + " tiles of 3x"
              + dims.imageSize()
              + "x"
              + dims.imageSize()
              + " need "
              + expected);
    float[] out = new float[nTiles * outputFloatsPerTile()];
    int s = dims.imageSize();
    for (int start = 0; start < nTiles; start += options.maxBatchTiles()) {
      int n = Math.min(options.maxBatchTiles(), nTiles - start);
      try (NDManager call = root.newSubManager()) {
        FloatBufferSlice in =
            new FloatBufferSlice(pixelValues, start * tileFloats(), n * tileFloats());
        NDArray pixels = call.create(in.buffer(), new Shape(n, 3, s, s));
        NDArray v = visionModel.forward(pixels, call);
        NDArray t = connector.forward(v); // [n, tokens, textHidden]
        float[] part = t.toDevice(Device.cpu(), false).toFloatArray();
        System.arraycopy(part, 0, out, start * outputFloatsPerTile(), part.length);
      }
    }
    return out;
  }

  @Override
  public void close() {
    root.close();
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A view of part of a float[] as a FloatBuffer, so no intermediate array is copied per batch. */
  private record FloatBufferSlice(float[] data, int offset, int length) {
    java.nio.FloatBuffer buffer() {
      return java.nio.FloatBuffer.wrap(data, offset, length).slice();
    }
  }
}
