package tandem.vision.model;

/**
 * How to run the tower: {@code device} is "cpu" or "cuda" (cuda falls back to cpu with a warning
 * when no GPU is visible); {@code maxBatchTiles} caps the tiles of one forward pass so that a long
 * {@code encode} call cannot allocate attention scores for dozens of tiles at once.
 */
public record VisionOptions(String device, int maxBatchTiles) {
  public VisionOptions {
    if (!device.equals("cpu") && !device.equals("cuda"))
      throw new IllegalArgumentException("device must be cpu or cuda, got " + device);
    if (maxBatchTiles < 1)
      throw new IllegalArgumentException("maxBatchTiles must be >= 1, got " + maxBatchTiles);
  }

  public static VisionOptions cpu() {
    return new VisionOptions("cpu", 8);
  }
}
