package tandem.gateway.chat;

/**
 * Tile grid of one image: rows = cols = 0 when the image was not split (one tile), else rows*cols
 * tiles + global.
 */
public record Grid(int rows, int cols) {
  public Grid {
    if (rows < 0 || cols < 0 || (rows == 0) != (cols == 0)) {
      throw new IllegalArgumentException("bad tile grid " + rows + "x" + cols);
    }
  }

  public int tiles() {
    return rows == 0 ? 1 : rows * cols + 1;
  }
}
