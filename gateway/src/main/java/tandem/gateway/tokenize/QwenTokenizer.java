package tandem.gateway.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import tandem.gateway.chat.Segment;

/**
 * The checkpoint's byte-level BPE tokenizer ({@code tokenizer.json}) through DJL's HF tokenizers,
 * used the way the prompt needs it.
 *
 * <p>The native tokenizer is built from the file with its {@code added_tokens} list emptied ({@code
 * plain}); one built from the file as shipped ({@code full}) exists only for cross-checks. HF
 * extracts added tokens first and encodes the text between them on its own, so encoding each text
 * {@link Segment} with {@code plain} and mapping each control segment to its id gives exactly HF's
 * ids for the template output, and a {@code <|im_start|>} typed by a user is encoded as ordinary
 * text.
 *
 * <p>Decoding is done in Java from the vocabulary (byte-level: every token is a fixed byte string),
 * which is what makes incremental, UTF-8-safe streaming possible; {@link #decodeReference} uses DJL
 * for cross-checks.
 */
public final class QwenTokenizer implements TokenBytes, AutoCloseable {
  /** Options for DJL: never truncate (DJL defaults to 512 ids), never pad, add nothing. */
  private static final Map<String, String> OPTIONS =
      Map.of(
          "truncation",
          "false",
          "padding",
          "false",
          "addSpecialTokens",
          "false",
          "modelMaxLength",
          "1000000000");

  private static final String RESOURCE = "/tandem/tokenizer/qwen3-tokenizer.json.gz";

  /** Re-reads tokenizer.json for the cross-check instance (not kept: 22 MB of chars). */
  interface JsonSource {
    String read() throws IOException;
  }

  private final JsonSource jsonSource;
  private final HuggingFaceTokenizer plain;
  private final Map<String, Integer> addedIds;
  private final byte[][] tokenBytes;
  private final boolean[] special;
  private final String source;
  private final int maxTokenBytes;
  private HuggingFaceTokenizer full; // built on first use: only cross-checks need it

  private QwenTokenizer(JsonSource jsonSource, String source) throws IOException {
    this.source = source;
    this.jsonSource = jsonSource;
    String json = jsonSource.read();
    Map<String, Integer> vocab = new HashMap<>(1 << 18);
    List<JsonObject> added = new ArrayList<>();
    readVocabAndAddedTokens(json, vocab, added);
    int maxId = 0;
    for (int id : vocab.values()) maxId = Math.max(maxId, id);
    for (JsonObject t : added) maxId = Math.max(maxId, t.get("id").getAsInt());
    tokenBytes = new byte[maxId + 1][];
    special = new boolean[maxId + 1];
    int longest = 1;
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      tokenBytes[e.getValue()] = ByteLevel.toBytes(e.getKey());
      longest = Math.max(longest, tokenBytes[e.getValue()].length);
    }
    maxTokenBytes = longest;
    Map<String, Integer> ids = new HashMap<>();
    for (JsonObject t : added) {
      int id = t.get("id").getAsInt();
      String content = t.get("content").getAsString();
      ids.put(content, id);
      tokenBytes[id] = content.getBytes(StandardCharsets.UTF_8);
      special[id] = t.has("special") && t.get("special").getAsBoolean();
    }
    addedIds = Map.copyOf(ids);
    plain = HuggingFaceTokenizer.newInstance(stream(withoutAddedTokens(json)), OPTIONS);
  }

  /**
   * Streams through tokenizer.json once, keeping only model.vocab and added_tokens (the merges are
   * skipped).
   */
  private static void readVocabAndAddedTokens(
      String json, Map<String, Integer> vocab, List<JsonObject> added) throws IOException {
    try (JsonReader r = new JsonReader(new StringReader(json))) {
      r.beginObject();
      while (r.hasNext()) {
        String name = r.nextName();
        if (name.equals("added_tokens") && r.peek() == JsonToken.BEGIN_ARRAY) {
          r.beginArray();
          while (r.hasNext()) added.add(JsonParser.parseReader(r).getAsJsonObject());
          r.endArray();
        } else if (name.equals("model") && r.peek() == JsonToken.BEGIN_OBJECT) {
          r.beginObject();
          while (r.hasNext()) {
            if (r.nextName().equals("vocab") && r.peek() == JsonToken.BEGIN_OBJECT) {
              r.beginObject();
              while (r.hasNext()) vocab.put(r.nextName(), r.nextInt());
              r.endObject();
            } else {
              r.skipValue();
            }
          }
          r.endObject();
        } else {
          r.skipValue();
        }
      }
    }
    if (vocab.isEmpty())
      throw new IOException("tokenizer.json has no model.vocab (not a BPE tokenizer?)");
  }

  /**
   * The same JSON text with the top-level {@code added_tokens} array emptied, by locating the array
   * in the text (string-aware bracket matching) rather than re-serializing an 11 MB tree.
   */
  static String withoutAddedTokens(String json) throws IOException {
    int key = json.indexOf("\"added_tokens\"");
    if (key < 0) return json;
    int open = json.indexOf('[', key);
    if (open < 0) throw new IOException("tokenizer.json: added_tokens is not an array");
    int depth = 0;
    boolean inString = false;
    for (int i = open; i < json.length(); i++) {
      char c = json.charAt(i);
      if (inString) {
        if (c == '\\') i++;
        else if (c == '"') inString = false;
      } else if (c == '"') {
        inString = true;
      } else if (c == '[') {
        depth++;
      } else if (c == ']' && --depth == 0) {
        return json.substring(0, open) + "[]" + json.substring(i + 1);
      }
    }
    throw new IOException("tokenizer.json: unterminated added_tokens array");
  }

  private synchronized HuggingFaceTokenizer full() {
    if (full == null) {
      try {
        full = HuggingFaceTokenizer.newInstance(stream(jsonSource.read()), OPTIONS);
      } catch (IOException e) {
        throw new IllegalStateException("cannot build the reference tokenizer", e);
      }
    }
    return full;
  }

  private static InputStream stream(String s) {
    return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
  }

  /** Loads {@code dir/tokenizer.json}. */
  public static QwenTokenizer fromCheckpoint(Path dir) throws IOException {
    Path p = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(p)) throw new IOException("no tokenizer.json in " + dir);
    return new QwenTokenizer(() -> Files.readString(p), p.toString());
  }

  /**
   * The checkpoint's tokenizer.json when the folder has one, else the Qwen3 tokenizer bundled in
   * common (the same file the fixture checkpoints use). {@code dir} may be null.
   */
  public static QwenTokenizer forCheckpointOrBundled(Path dir) throws IOException {
    if (dir != null && Files.isRegularFile(dir.resolve("tokenizer.json")))
      return fromCheckpoint(dir);
    return bundled();
  }

  /** The Qwen3 tokenizer shipped in common's resources. */
  public static QwenTokenizer bundled() throws IOException {
    return new QwenTokenizer(QwenTokenizer::readBundled, "bundled " + RESOURCE);
  }

  private static String readBundled() throws IOException {
    try (InputStream in = QwenTokenizer.class.getResourceAsStream(RESOURCE)) {
      if (in == null) throw new IOException("missing resource " + RESOURCE);
      return new String(new GZIPInputStream(in).readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Where the tokenizer came from (for logs and errors). */
  public String source() {
    return source;
  }

  /**
   * Bytes of the longest vocabulary entry: text of {@code b} UTF-8 bytes encodes to at least {@code
   * ceil(b / maxTokenBytes())} ids, a bound the gateway checks before a text reaches the tokenizer.
   */
  public int maxTokenBytes() {
    return maxTokenBytes;
  }

  /** Ids of ordinary text; added tokens are NOT matched (so control-token text stays text). */
  public int[] encodeText(String text) {
    if (text.isEmpty()) return new int[0];
    long[] ids = plain.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
    return out;
  }

  /**
   * Id of an added token such as {@code <|im_start|>}; fails when the tokenizer does not have it.
   */
  public int addedTokenId(String token) {
    Integer id = addedIds.get(token);
    if (id == null) throw new IllegalArgumentException("the tokenizer has no added token " + token);
    return id;
  }

  /**
   * Ids of a prompt made of segments; an image placeholder left unexpanded becomes one {@code
   * <|image_pad|>}.
   */
  public int[] encode(List<Segment> segments) {
    return encode(segments, null);
  }

  /**
   * Like {@link #encode(List)}, reusing (and filling) {@code memo}, a map from text to its ids; the
   * gateway fills it while vision-svc is busy so that only the text next to images is left for
   * after the embeddings arrive.
   */
  public int[] encode(List<Segment> segments, Map<String, int[]> memo) {
    int imagePad = addedTokenId(tandem.gateway.chat.Tokens.IMAGE_PAD);
    int[] buf = new int[256];
    int n = 0;
    for (Segment s : segments) {
      int[] ids;
      if (s instanceof Segment.Text t) {
        ids =
            memo == null ? encodeText(t.text()) : memo.computeIfAbsent(t.text(), this::encodeText);
      } else if (s instanceof Segment.Special sp) ids = new int[] {addedTokenId(sp.token())};
      else ids = new int[] {imagePad};
      if (n + ids.length > buf.length)
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, n + ids.length));
      System.arraycopy(ids, 0, buf, n, ids.length);
      n += ids.length;
    }
    return Arrays.copyOf(buf, n);
  }

  /**
   * The bytes a token stands for, or null for ids the tokenizer does not know (the model's
   * vocabulary is padded beyond the tokenizer's: 151936 vs 151669).
   */
  @Override
  public byte[] tokenBytes(int id) {
    return id >= 0 && id < tokenBytes.length ? tokenBytes[id] : null;
  }

  /** True for added tokens flagged special (skipped by {@code skip_special_tokens=True}). */
  @Override
  public boolean isSpecial(int id) {
    return id >= 0 && id < special.length && special[id];
  }

  /** DJL's (Rust tokenizers') decode, for cross-checks. */
  public String decodeReference(int[] ids, boolean skipSpecialTokens) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) l[i] = ids[i];
    return full().decode(l, skipSpecialTokens);
  }

  /**
   * DJL's encode of a whole string WITH added-token matching (what a naive client would do), for
   * cross-checks.
   */
  public int[] encodeReference(String text) {
    long[] ids = full().encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
    return out;
  }

  /** Decodes ids to text in Java (invalid UTF-8 becomes U+FFFD, as HF's errors='replace'). */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    IncrementalDetokenizer d = new IncrementalDetokenizer(this, skipSpecialTokens);
    StringBuilder sb = new StringBuilder();
    for (int id : ids) sb.append(d.push(id));
    sb.append(d.flush());
    return sb.toString();
  }

  @Override
  public synchronized void close() {
    if (full != null) full.close();
    plain.close();
  }
}
