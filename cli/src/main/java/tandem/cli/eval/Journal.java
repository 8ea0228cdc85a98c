package tandem.cli.eval;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code answers.jsonl} in the report folder: what makes a run resumable. The first line names the
 * settings the answers belong to (annotation file hash, prompt template, generation parameters);
 * then one line per answer, appended and flushed as it arrives. A run that stops (killed, server
 * gone) leaves every finished answer; the next run with the same settings asks only the rest. A
 * half-written last line is dropped.
 */
public final class Journal implements AutoCloseable {
  static final String FILE = "answers.jsonl";
  private static final Gson JSON = new GsonBuilder().disableHtmlEscaping().create();

  private final Path file;
  private final Map<List<Long>, Answer> answers;
  private final BufferedWriter out;

  private Journal(Path file, Map<List<Long>, Answer> answers, BufferedWriter out) {
    this.file = file;
    this.answers = answers;
    this.out = out;
  }

  /** A journal whose settings differ from the folder's: one line for the user. */
  public static final class Mismatch extends RuntimeException {
    Mismatch(String message) {
      super(message);
    }
  }

  /**
   * Opens {@code dir/answers.jsonl} for {@code settings}: resumes it when its header matches,
   * starts it when it is absent or {@code restart} is set, and refuses when it belongs to other
   * settings.
   */
  public static Journal open(Path dir, JsonObject settings, boolean restart) throws IOException {
    Files.createDirectories(dir);
    Path file = dir.resolve(FILE);
    Map<List<Long>, Answer> answers = new LinkedHashMap<>();
    if (restart) Files.deleteIfExists(file);
    if (Files.exists(file)) {
      byte[] bytes = Files.readAllBytes(file);
      int end = bytes.length;
      while (end > 0 && bytes[end - 1] != '\n') end--; // a line cut off mid-write is not an answer
      String text = new String(bytes, 0, end, StandardCharsets.UTF_8);
      String[] lines = text.isEmpty() ? new String[0] : text.split("\n");
      if (lines.length == 0) {
        Files.delete(file);
      } else {
        JsonObject header = parse(lines[0], file, 1);
        JsonObject theirs = header.getAsJsonObject("settings");
        if (theirs == null || !theirs.equals(settings)) {
          throw new Mismatch(
              dir
                  + " holds answers of a run with other settings ("
                  + diff(theirs, settings)
                  + "); pass --restart to discard them, or choose another --out");
        }
        for (int i = 1; i < lines.length; i++) {
          Answer a;
          try {
            a = Answer.fromJson(parse(lines[i], file, i + 1));
          } catch (RuntimeException e) {
            throw new Mismatch(
                file
                    + " line "
                    + (i + 1)
                    + " is not an answer ("
                    + e.getMessage()
                    + "); pass --restart to discard the saved answers");
          }
          answers.put(List.of(a.imageId(), a.categoryId()), a);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
          ch.truncate(end);
        }
      }
    }
    boolean fresh = !Files.exists(file);
    BufferedWriter w =
        Files.newBufferedWriter(
            file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    if (fresh) {
      JsonObject header = new JsonObject();
      header.addProperty("tandem", "vlm eval grounding answers");
      header.add("settings", settings);
      w.write(JSON.toJson(header));
      w.write('\n');
      w.flush();
    }
    return new Journal(file, answers, w);
  }

  private static JsonObject parse(String line, Path file, int no) {
    try {
      return JsonParser.parseString(line).getAsJsonObject();
    } catch (JsonParseException | IllegalStateException e) {
      throw new Mismatch(
          file + " line " + no + " is not JSON; pass --restart to discard the saved answers");
    }
  }

  private static String diff(JsonObject theirs, JsonObject ours) {
    if (theirs == null) return "no settings line";
    for (String k : ours.keySet()) {
      if (!ours.get(k).equals(theirs.get(k)))
        return k + " was " + theirs.get(k) + ", now " + ours.get(k);
    }
    return "settings " + theirs;
  }

  /** Answers saved by earlier runs, by [image id, category id]. */
  public Map<List<Long>, Answer> saved() {
    return answers;
  }

  public Path file() {
    return file;
  }

  /**
   * Saves one answer durably enough for a resume (flushed; one line, so a crash cuts at most this
   * line).
   */
  public synchronized void append(Answer a) {
    try {
      out.write(JSON.toJson(a.toJson()));
      out.write('\n');
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void close() throws IOException {
    out.close();
  }
}
