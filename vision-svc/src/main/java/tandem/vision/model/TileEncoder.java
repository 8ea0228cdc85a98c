package tandem.vision.model;

/**
 * Tiles in, image tokens out; what the batcher needs from a model (tests substitute a counting
 * fake).
 */
public interface TileEncoder {
  /** pixels float32 [tiles, 3, S, S] → float32 [tiles, tokensPerTile, hidden]. */
  float[] encode(float[] pixelValues, int tiles);

  /** 3·S·S. */
  int tileFloats();

  /** tokensPerTile·hidden. */
  int outputFloatsPerTile();
}
