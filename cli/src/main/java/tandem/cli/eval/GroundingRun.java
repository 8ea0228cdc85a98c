package tandem.cli.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import tandem.cli.eval.CocoDataset.Annotation;
import tandem.cli.eval.CocoDataset.Image;
import tandem.cli.eval.CocoEval.Detection;
import tandem.vision.preprocess.ImageDecodeException;
import tandem.vision.preprocess.ImageDecoder;

/**
 * Asks the model one grounding question per image and category present in that image's true boxes,
 * with up to {@code concurrency} questions in flight, saving each answer in the {@link Journal} as
 * it arrives. An image whose file is missing or does not decode, or for which the server refuses a
 * question, is reported in one line, counted and left out of the scores; the run goes on. A failure
 * no retry of the next image can fix (server down, refused credentials) ends the run with {@link
 * AskFailure}, the answers so far kept for a resume.
 */
public final class GroundingRun {
  private GroundingRun() {}

  /**
   * One question to the model; the gRPC implementation lives with the command (domain code has no
   * transport).
   */
  public interface Asker {
    Answer ask(long imageId, long categoryId, byte[] image, String prompt) throws AskFailure;
  }

  /**
   * A question that got no answer; {@code fatal} when the next questions would fail the same way.
   */
  public static final class AskFailure extends Exception {
    private final boolean fatal;

    public AskFailure(String message, boolean fatal) {
      super(message);
      this.fatal = fatal;
    }

    public boolean fatal() {
      return fatal;
    }
  }

  public record Settings(Path imagesDir, String promptTemplate, int limit, int concurrency) {}

  /**
   * What a run leaves: the images that are scored (every question answered), the answers by [image,
   * category], and how many images were left out and why.
   */
  public record Outcome(
      List<Long> scoredImages,
      List<Long> skippedImages,
      Map<List<Long>, Answer> answers,
      int missing,
      int undecodable,
      int failed,
      int asked,
      int resumed) {}

  /** The images a run covers: the first {@code limit} of the file (all when limit is 0). */
  public static List<Image> images(CocoDataset data, int limit) {
    List<Image> all = data.images();
    return limit > 0 && limit < all.size() ? all.subList(0, limit) : all;
  }

  /** Categories with a true box (crowd included) in each image, in id order: what is asked. */
  public static Map<Long, TreeSet<Long>> questions(CocoDataset data) {
    Map<Long, TreeSet<Long>> m = new LinkedHashMap<>();
    for (Annotation a : data.annotations())
      m.computeIfAbsent(a.imageId(), k -> new TreeSet<>()).add(a.categoryId());
    return m;
  }

  public static String prompt(String template, String label) {
    return template.replace("{label}", label);
  }

  public static Outcome run(
      CocoDataset data, Settings s, Asker asker, Journal journal, Progress progress)
      throws AskFailure, InterruptedException {
    List<Image> images = images(data, s.limit());
    Map<Long, TreeSet<Long>> questions = questions(data);
    Map<Long, CocoDataset.Category> cats = data.categoryById();
    Map<List<Long>, Answer> answers = new ConcurrentHashMap<>();
    int total = 0, resumed = 0;
    for (Image img : images) {
      for (long c : questions.getOrDefault(img.id(), new TreeSet<>())) {
        total++;
        Answer a = journal.saved().get(List.of(img.id(), c));
        if (a != null) {
          answers.put(List.of(img.id(), c), a);
          resumed++;
        }
      }
    }
    progress.start(total, resumed);
    Set<Long> leftOut = ConcurrentHashMap.newKeySet();
    int missing = 0, undecodable = 0, asked = 0;
    AtomicReference<AskFailure> fatal = new AtomicReference<>();
    Set<Long> failed = ConcurrentHashMap.newKeySet();
    ImageDecoder decoder = ImageDecoder.withDefaults();
    ExecutorService pool =
        Executors.newFixedThreadPool(
            s.concurrency(),
            r -> {
              Thread t = new Thread(r, "eval-ask");
              t.setDaemon(true);
              return t;
            });
    Semaphore inFlight =
        new Semaphore(s.concurrency() * 2); // bounds the image bytes held in memory
    try {
      for (Image img : images) {
        if (fatal.get() != null) break;
        List<Long> todo = new ArrayList<>();
        for (long c : questions.getOrDefault(img.id(), new TreeSet<>())) {
          if (!answers.containsKey(List.of(img.id(), c))) todo.add(c);
        }
        if (todo.isEmpty()) continue;
        String name = "image " + img.id() + " (" + img.fileName() + ")";
        Path file = s.imagesDir().resolve(img.fileName());
        byte[] bytes;
        try {
          bytes = Files.readAllBytes(file);
        } catch (IOException e) {
          progress.println(
              "vlm: warning: "
                  + name
                  + ": "
                  + (Files.exists(file)
                      ? "cannot read " + file + " (" + e.getMessage() + ")"
                      : "no file " + file)
                  + "; skipped");
          missing++;
          leftOut.add(img.id());
          progress.skipped(todo.size());
          continue;
        }
        try {
          decoder.decode(bytes);
        } catch (ImageDecodeException | RuntimeException e) {
          progress.println(
              "vlm: warning: " + name + ": does not decode (" + e.getMessage() + "); skipped");
          undecodable++;
          leftOut.add(img.id());
          progress.skipped(todo.size());
          continue;
        }
        for (long c : todo) {
          inFlight.acquire();
          if (fatal.get() != null) {
            inFlight.release();
            break;
          }
          asked++;
          String question = prompt(s.promptTemplate(), cats.get(c).name());
          pool.execute(
              () -> {
                try {
                  if (fatal.get() != null || failed.contains(img.id())) {
                    progress.skipped(1);
                    return;
                  }
                  Answer a = asker.ask(img.id(), c, bytes, question);
                  journal.append(a);
                  answers.put(List.of(img.id(), c), a);
                  progress.answered();
                } catch (AskFailure f) {
                  if (f.fatal()) {
                    fatal.compareAndSet(null, f);
                  } else if (failed.add(img.id())) {
                    progress.println(
                        "vlm: warning: "
                            + name
                            + ", category "
                            + cats.get(c).name()
                            + ": "
                            + f.getMessage()
                            + "; image skipped");
                  }
                  progress.skipped(1);
                } catch (RuntimeException e) {
                  fatal.compareAndSet(null, new AskFailure(String.valueOf(e.getMessage()), true));
                  progress.skipped(1);
                } finally {
                  inFlight.release();
                }
              });
        }
      }
    } finally {
      pool.shutdown();
      if (!pool.awaitTermination(1, TimeUnit.DAYS)) pool.shutdownNow();
    }
    progress.finish();
    if (fatal.get() != null) throw fatal.get();
    leftOut.addAll(failed);
    List<Long> scored = new ArrayList<>(), skipped = new ArrayList<>();
    for (Image img : images) (leftOut.contains(img.id()) ? skipped : scored).add(img.id());
    return new Outcome(
        Collections.unmodifiableList(scored),
        Collections.unmodifiableList(skipped),
        Map.copyOf(answers),
        missing,
        undecodable,
        failed.size(),
        asked,
        resumed);
  }

  /**
   * The answers of the scored images as COCO detections, in image (file) order, then category id,
   * then the order the boxes were streamed; the score of each box is {@link Answer#rankScore} of
   * its rank in its answer. This list is what predictions.json holds, so scoring that file gives
   * the same numbers.
   */
  public static List<Detection> detections(
      CocoDataset data, List<Long> scoredImages, Map<List<Long>, Answer> answers) {
    Map<Long, TreeSet<Long>> questions = questions(data);
    List<Detection> out = new ArrayList<>();
    Set<Long> scored = Set.copyOf(scoredImages);
    for (Image img : data.images()) {
      if (!scored.contains(img.id())) continue;
      for (long c : questions.getOrDefault(img.id(), new TreeSet<>())) {
        Answer a = answers.get(List.of(img.id(), c));
        if (a == null) continue;
        int rank = 0;
        for (double[] b : a.boxes()) {
          double[] xywh = {b[0], b[1], b[2] - b[0], b[3] - b[1]};
          out.add(new Detection(out.size() + 1, img.id(), c, xywh, Answer.rankScore(rank++)));
        }
      }
    }
    return out;
  }

  /** Answers and parse failures per category over the scored images. */
  public static Map<Long, GroundingMetrics.AnswerCounts> answerCounts(
      List<Long> scoredImages, Map<List<Long>, Answer> answers) {
    Set<Long> scored = Set.copyOf(scoredImages);
    Map<Long, int[]> n = new LinkedHashMap<>();
    for (Answer a : answers.values()) {
      if (!scored.contains(a.imageId())) continue;
      int[] c = n.computeIfAbsent(a.categoryId(), k -> new int[2]);
      c[0]++;
      if (a.parseFailure()) c[1]++;
    }
    Map<Long, GroundingMetrics.AnswerCounts> out = new LinkedHashMap<>();
    n.forEach((k, c) -> out.put(k, new GroundingMetrics.AnswerCounts(c[0], c[1])));
    return out;
  }
}
