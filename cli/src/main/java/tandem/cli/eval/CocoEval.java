package tandem.cli.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import tandem.cli.eval.CocoDataset.Annotation;

/**
 * COCO box evaluation as pycocotools' {@code COCOeval} (iouType "bbox") computes it, restricted to
 * what {@code summarize()} reports for area "all" and maxDets 100: the same per-image greedy
 * matching (crowd boxes, ignore flags, the IoU ≥ threshold test with its 1 − 1e-10 cap, a match
 * stored as the true box's id), the same stable (mergesort) score ordering within an image and then
 * across images in image-id order, the same 101-point interpolated precision (with its {@code
 * np.spacing(1)} and {@code searchsorted} left edge) and the same means (numpy's pairwise summation
 * over the flattened [threshold, recall, category] array, so the totals are the same floating-point
 * numbers, not just close). Pure: no I/O.
 *
 * <p>pycocotools' quirks are kept on purpose, since "AP equals COCOeval" is the contract: a true
 * box whose id is 0 can never count as matched (a stored match id of 0 reads as "none"), and a
 * category without any non-crowd true box has no AP at all (left out of the means) rather than 0.
 */
public final class CocoEval {
  private CocoEval() {}

  /**
   * np.linspace(.5, 0.95, 10): 0.5, 0.55, …, 0.95, the same doubles (0.8999999999999999 included).
   */
  public static final double[] IOU_THRESHOLDS = linspace(0.5, 0.95, 10);

  /** np.linspace(.0, 1.00, 101). */
  public static final double[] RECALL_THRESHOLDS = linspace(0.0, 1.0, 101);

  public static final int MAX_DETS = 100;

  /** Area range "all": [0 ** 2, 1e5 ** 2]. */
  static final double AREA_MIN = 0, AREA_MAX = 1e10;

  /** np.spacing(1). */
  static final double EPS = Math.ulp(1.0);

  /** Index of IoU 0.75 in {@link #IOU_THRESHOLDS} (np.where(.75 == iouThrs)). */
  public static final int T75 = 5;

  /**
   * One predicted box, [x, y, w, h] in pixels; {@code id} is its 1-based position in the results
   * list.
   */
  public record Detection(long id, long imageId, long categoryId, double[] bbox, double score) {
    public double area() {
      return bbox[2] * bbox[3];
    }
  }

  /**
   * What {@code evaluateImg} returns for one image and category (null there when it has neither
   * boxes).
   */
  public static final class ImageCategory {
    public final long imageId;
    public final long categoryId;

    /** True boxes, not-ignored first (stable). */
    public final List<Annotation> gts;

    /** Detections by descending score (stable), at most {@link #MAX_DETS}. */
    public final List<Detection> dts;

    /** [T][D]: id of the matched true box, 0 for none (pycocotools' dtMatches). */
    final long[][] dtMatchId;

    /** [T][D]: index into {@link #gts} of the match, -1 for none. */
    final int[][] dtMatchIndex;

    /** [T][D]: IoU with the matched true box (0 when unmatched). */
    final double[][] dtMatchIou;

    final boolean[][] dtIgnore;
    final boolean[] gtIgnore;

    /** [T][G]: matched by some detection. */
    final boolean[][] gtMatched;

    ImageCategory(long imageId, long categoryId, List<Annotation> gts, List<Detection> dts, int t) {
      this.imageId = imageId;
      this.categoryId = categoryId;
      this.gts = gts;
      this.dts = dts;
      dtMatchId = new long[t][dts.size()];
      dtMatchIndex = new int[t][dts.size()];
      for (int[] row : dtMatchIndex) Arrays.fill(row, -1);
      dtMatchIou = new double[t][dts.size()];
      dtIgnore = new boolean[t][dts.size()];
      gtIgnore = new boolean[gts.size()];
      gtMatched = new boolean[t][gts.size()];
    }

    /** Counted as a true positive at threshold index t. */
    public boolean truePositive(int t, int d) {
      return dtMatchId[t][d] != 0 && !dtIgnore[t][d];
    }

    public boolean falsePositive(int t, int d) {
      return dtMatchId[t][d] == 0 && !dtIgnore[t][d];
    }

    /** A true box that counts and was not found at threshold index t. */
    public boolean missed(int t, int g) {
      return !gtIgnore[g] && !gtMatched[t][g];
    }

    public double matchIou(int t, int d) {
      return dtMatchIou[t][d];
    }

    public int matchIndex(int t, int d) {
      return dtMatchIndex[t][d];
    }

    public int countedTruths() {
      int n = 0;
      for (boolean b : gtIgnore) if (!b) n++;
      return n;
    }
  }

  /**
   * Per-category outcome: precision [T][R] (null when the category has no counted true box), recall
   * [T].
   */
  public record CategoryResult(long categoryId, double[][] precision, double[] recall) {
    public boolean hasTruth() {
      return precision != null;
    }
  }

  /** Everything {@code accumulate} and the extra grounding metrics need. */
  public record Result(
      List<Long> imageIds,
      List<Long> categoryIds,
      Map<Long, CategoryResult> perCategory,
      Map<Long, List<ImageCategory>> evalImgs) {

    /**
     * Overall AP over all thresholds (t = -1) or at one threshold index; null where pycocotools
     * prints -1.
     */
    public Double ap(int t) {
      List<Double> s = new ArrayList<>();
      int t0 = t < 0 ? 0 : t, t1 = t < 0 ? IOU_THRESHOLDS.length : t + 1;
      // precision[:, :, k] flattened in C order: threshold, then recall point, then category
      for (int ti = t0; ti < t1; ti++) {
        for (int r = 0; r < RECALL_THRESHOLDS.length; r++) {
          for (long k : categoryIds) {
            CategoryResult c = perCategory.get(k);
            if (c.hasTruth() && c.precision[ti][r] > -1) s.add(c.precision[ti][r]);
          }
        }
      }
      return mean(s);
    }

    /** One category's AP, as the overall one restricted to it. */
    public Double ap(long categoryId, int t) {
      CategoryResult c = perCategory.get(categoryId);
      if (c == null || !c.hasTruth()) return null;
      List<Double> s = new ArrayList<>();
      int t0 = t < 0 ? 0 : t, t1 = t < 0 ? IOU_THRESHOLDS.length : t + 1;
      for (int ti = t0; ti < t1; ti++) {
        for (int r = 0; r < RECALL_THRESHOLDS.length; r++)
          if (c.precision[ti][r] > -1) s.add(c.precision[ti][r]);
      }
      return mean(s);
    }
  }

  /**
   * Evaluates {@code detections} against {@code truths} over the given images and categories
   * (pycocotools: {@code params.imgIds}, {@code params.catIds}; sorted and deduplicated here as it
   * does). Boxes of other images or categories are left out, as there.
   */
  public static Result evaluate(
      List<Annotation> truths,
      List<Detection> detections,
      List<Long> imageIds,
      List<Long> categoryIds) {
    List<Long> imgs = new ArrayList<>(new TreeSet<>(imageIds));
    List<Long> cats = new ArrayList<>(new TreeSet<>(categoryIds));
    Map<List<Long>, List<Annotation>> gts = new HashMap<>();
    Map<List<Long>, List<Detection>> dts = new HashMap<>();
    java.util.Set<Long> imgSet = new java.util.HashSet<>(imgs),
        catSet = new java.util.HashSet<>(cats);
    for (Annotation a : truths) {
      if (imgSet.contains(a.imageId()) && catSet.contains(a.categoryId())) {
        gts.computeIfAbsent(List.of(a.imageId(), a.categoryId()), k -> new ArrayList<>()).add(a);
      }
    }
    for (Detection d : detections) {
      if (imgSet.contains(d.imageId()) && catSet.contains(d.categoryId())) {
        dts.computeIfAbsent(List.of(d.imageId(), d.categoryId()), k -> new ArrayList<>()).add(d);
      }
    }
    Map<Long, List<ImageCategory>> evalImgs = new LinkedHashMap<>();
    Map<Long, CategoryResult> per = new LinkedHashMap<>();
    for (long k : cats) {
      List<ImageCategory> e = new ArrayList<>();
      for (long i : imgs) {
        ImageCategory r =
            evaluateImg(
                i,
                k,
                gts.getOrDefault(List.of(i, k), List.of()),
                dts.getOrDefault(List.of(i, k), List.of()));
        if (r != null) e.add(r);
      }
      evalImgs.put(k, e);
      per.put(k, accumulate(k, e));
    }
    return new Result(List.copyOf(imgs), List.copyOf(cats), per, evalImgs);
  }

  static ImageCategory evaluateImg(
      long imageId, long categoryId, List<Annotation> gt0, List<Detection> dt0) {
    if (gt0.isEmpty() && dt0.isEmpty()) return null;
    int T = IOU_THRESHOLDS.length;
    // gt: ignored (crowd, or area outside "all") last, stable
    List<Annotation> gt = new ArrayList<>(gt0);
    gt.sort((a, b) -> Boolean.compare(ignored(a), ignored(b)));
    List<Detection> dt = new ArrayList<>(dt0);
    dt.sort(CocoEval::byDescendingScore);
    if (dt.size() > MAX_DETS) dt = new ArrayList<>(dt.subList(0, MAX_DETS));
    ImageCategory r = new ImageCategory(imageId, categoryId, gt, dt, T);
    int G = gt.size(), D = dt.size();
    for (int g = 0; g < G; g++) r.gtIgnore[g] = ignored(gt.get(g));
    if (G > 0 && D > 0) {
      double[][] ious = new double[D][G];
      for (int d = 0; d < D; d++) {
        for (int g = 0; g < G; g++)
          ious[d][g] = iou(dt.get(d).bbox(), gt.get(g).bbox(), gt.get(g).iscrowd());
      }
      long[][] gtm = new long[T][G];
      for (int t = 0; t < T; t++) {
        for (int d = 0; d < D; d++) {
          double iou = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
          int m = -1;
          for (int g = 0; g < G; g++) {
            if (gtm[t][g] > 0 && !gt.get(g).iscrowd()) continue; // taken, and not a crowd
            if (m > -1 && !r.gtIgnore[m] && r.gtIgnore[g])
              break; // a real match beats any ignored box
            if (ious[d][g] < iou) continue;
            iou = ious[d][g];
            m = g;
          }
          if (m == -1) continue;
          r.dtIgnore[t][d] = r.gtIgnore[m];
          r.dtMatchId[t][d] = gt.get(m).id();
          r.dtMatchIndex[t][d] = m;
          r.dtMatchIou[t][d] = ious[d][m];
          gtm[t][m] = dt.get(d).id();
          r.gtMatched[t][m] = true;
        }
      }
    }
    for (int d = 0; d < D; d++) {
      double a = dt.get(d).area();
      boolean outside = a < AREA_MIN || a > AREA_MAX;
      for (int t = 0; t < T; t++) if (r.dtMatchId[t][d] == 0 && outside) r.dtIgnore[t][d] = true;
    }
    return r;
  }

  static boolean ignored(Annotation a) {
    return a.iscrowd() || a.area() < AREA_MIN || a.area() > AREA_MAX;
  }

  /**
   * Descending score, ties kept in order (np.argsort(-score, kind='mergesort')); -0.0 equals 0.0 as
   * in numpy.
   */
  static int byDescendingScore(Detection a, Detection b) {
    return a.score() > b.score() ? -1 : a.score() < b.score() ? 1 : 0;
  }

  /**
   * maskApi.c bbIou: intersection over union of two [x, y, w, h] boxes; over the detection's area
   * for a crowd.
   */
  public static double iou(double[] d, double[] g, boolean crowd) {
    double ga = g[2] * g[3], da = d[2] * d[3];
    double w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
    if (w <= 0) return 0;
    double h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h;
    double u = crowd ? da : da + ga - i;
    return i / u;
  }

  static CategoryResult accumulate(long categoryId, List<ImageCategory> E) {
    int T = IOU_THRESHOLDS.length, R = RECALL_THRESHOLDS.length;
    if (E.isEmpty()) return new CategoryResult(categoryId, null, null);
    record Row(double score, ImageCategory e, int d) {}
    List<Row> rows = new ArrayList<>();
    int npig = 0;
    for (ImageCategory e : E) {
      for (int d = 0; d < e.dts.size(); d++) rows.add(new Row(e.dts.get(d).score(), e, d));
      npig += e.countedTruths();
    }
    if (npig == 0) return new CategoryResult(categoryId, null, null);
    rows.sort((a, b) -> a.score > b.score ? -1 : a.score < b.score ? 1 : 0); // stable, as mergesort
    int nd = rows.size();
    double[][] precision = new double[T][R];
    double[] recall = new double[T];
    for (int t = 0; t < T; t++) {
      double[] rc = new double[nd], pr = new double[nd];
      double tp = 0, fp = 0;
      for (int i = 0; i < nd; i++) {
        Row row = rows.get(i);
        if (row.e.truePositive(t, row.d)) tp += 1;
        if (row.e.falsePositive(t, row.d)) fp += 1;
        rc[i] = tp / npig;
        pr[i] = tp / (fp + tp + EPS);
      }
      recall[t] = nd > 0 ? rc[nd - 1] : 0;
      for (int i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
      double[] q = new double[R];
      for (int ri = 0; ri < R; ri++) {
        int pi = searchsortedLeft(rc, RECALL_THRESHOLDS[ri]);
        if (pi >= nd) break; // pycocotools: IndexError, caught; the rest stays 0
        q[ri] = pr[pi];
      }
      precision[t] = q;
    }
    return new CategoryResult(categoryId, precision, recall);
  }

  /**
   * First index i with a[i] >= v (a ascending), a.length when none: np.searchsorted(a, v,
   * side='left').
   */
  static int searchsortedLeft(double[] a, double v) {
    int lo = 0, hi = a.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (a[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** np.linspace(start, stop, num) for num > 1: i * step + start, the last exactly stop. */
  static double[] linspace(double start, double stop, int num) {
    double step = (stop - start) / (num - 1);
    double[] y = new double[num];
    for (int i = 0; i < num; i++) y[i] = i * step + start;
    y[num - 1] = stop;
    return y;
  }

  /**
   * np.mean of a 1-D float64 array: 0.0 + pairwise sum (numpy's add.reduce), then / n; null when
   * empty.
   */
  static Double mean(List<Double> values) {
    if (values.isEmpty()) return null;
    double[] a = new double[values.size()];
    for (int i = 0; i < a.length; i++) a[i] = values.get(i);
    return (0.0 + pairwiseSum(a, 0, a.length)) / a.length;
  }

  /** numpy's pairwise_sum for float64 (blocks of 128, eight accumulators). */
  static double pairwiseSum(double[] a, int off, int n) {
    if (n < 8) {
      double res = 0.;
      for (int i = 0; i < n; i++) res += a[off + i];
      return res;
    } else if (n <= 128) {
      double[] r = new double[8];
      for (int j = 0; j < 8; j++) r[j] = a[off + j];
      int i;
      for (i = 8; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; j++) r[j] += a[off + i + j];
      }
      double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[off + i];
      return res;
    } else {
      int n2 = n / 2;
      n2 -= n2 % 8;
      return pairwiseSum(a, off, n2) + pairwiseSum(a, off + n2, n - n2);
    }
  }
}
