package tandem.gateway.chat;

import java.util.List;

/**
 * SmolVLM's image-token expansion (HF's {@code SmolVLMProcessor}: processing_smolvlm.py {@code
 * _prompt_single_image} and {@code _prompt_split_image}, as in {@code Idefics3Processor}): the k-th
 * image placeholder becomes the fake image token, row/column markers, the global image token and
 * {@code imageSeqLen} image tokens per tile. Pure function.
 */
public final class ImageExpansion {
  private ImageExpansion() {}

  public static List<Segment> expand(List<Segment> rendered, List<Grid> grids, int imageSeqLen) {
    long placeholders = rendered.stream().filter(s -> s instanceof Segment.Image).count();
    if (placeholders != grids.size()) {
      throw new IllegalArgumentException(
          "the prompt has "
              + placeholders
              + " image placeholders but "
              + grids.size()
              + " images were encoded");
    }
    SegmentBuilder out = new SegmentBuilder();
    for (Segment s : rendered) {
      if (s instanceof Segment.Image img) {
        appendImage(out, grids.get(img.index()), imageSeqLen);
      } else {
        out.add(s);
      }
    }
    return out.build();
  }

  private static void appendImage(SegmentBuilder out, Grid g, int imageSeqLen) {
    if (g.rows() == 0) {
      add(out, new Segment.Text(Tokens.FAKE_IMAGE));
      add(out, new Segment.Special(Tokens.VISION_PAD));
      pads(out, imageSeqLen);
      add(out, new Segment.Text(Tokens.FAKE_IMAGE));
      return;
    }
    for (int r = 1; r <= g.rows(); r++) {
      for (int c = 1; c <= g.cols(); c++) {
        add(out, new Segment.Text(Tokens.FAKE_IMAGE + "<row_" + r + "_col_" + c + ">"));
        pads(out, imageSeqLen);
      }
      add(out, new Segment.Text("\n"));
    }
    add(out, new Segment.Text("\n" + Tokens.FAKE_IMAGE));
    add(out, new Segment.Special(Tokens.VISION_PAD));
    pads(out, imageSeqLen);
    add(out, new Segment.Text(Tokens.FAKE_IMAGE));
  }

  private static void pads(SegmentBuilder out, int n) {
    for (int i = 0; i < n; i++) out.add(new Segment.Special(Tokens.IMAGE_PAD));
  }

  /**
   * Adds a segment, merging adjacent text so that BPE sees it as one piece (as HF does after
   * expansion).
   */
  private static void add(SegmentBuilder out, Segment s) {
    out.add(s);
  }
}
