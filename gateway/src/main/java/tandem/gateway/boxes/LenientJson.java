package tandem.gateway.boxes;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A forgiving JSON reader in the spirit of Python's json_repair, for model output: unquoted or
 * single-quoted keys and strings, full-width punctuation, trailing or missing commas, missing
 * colons and output cut off in the middle (open brackets are closed at the end). It never throws;
 * what it cannot read it skips. Values are {@code Map} (insertion-ordered), {@code List}, {@code
 * Double}, {@code String}, {@code Boolean} or {@code null}.
 */
public final class LenientJson {
  /**
   * Deepest nesting read as structure. The reader is recursive, so without a bound a model (or
   * anyone who can steer its output) emitting thousands of {@code [} overflows the stack and kills
   * the client's stream (found by BoxParserFuzzTest). Real box JSON nests 3 deep; brackets past the
   * bound are skipped as noise.
   */
  static final int MAX_DEPTH = 64;

  private final String s;
  private int i;
  private int depth;

  private LenientJson(String s) {
    this.s = normalize(s);
  }

  /** Parses one value from the text (the first one found); null when there is none. */
  public static Object parse(String text) {
    LenientJson p = new LenientJson(text == null ? "" : text);
    p.skipSpace();
    if (p.i >= p.s.length()) return null;
    // Several top-level values (e.g. "{...}, {...}") are read as a list.
    List<Object> values = new ArrayList<>();
    while (p.i < p.s.length()) {
      int before = p.i;
      Object v = p.value();
      if (v != null) values.add(v);
      p.skipSpaceAndCommas();
      if (p.i == before) p.i++;
    }
    if (values.isEmpty()) return null;
    return values.size() == 1 ? values.get(0) : values;
  }

  /** Full-width punctuation that models trained on Chinese text emit in JSON. */
  static String normalize(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    for (int k = 0; k < s.length(); k++) {
      char c = s.charAt(k);
      switch (c) {
        case '，' -> sb.append(',');
        case '：' -> sb.append(':');
        case '“', '”', '「', '」' -> sb.append('"');
        case '‘', '’' -> sb.append('\'');
        case '［', '【' -> sb.append('[');
        case '］', '】' -> sb.append(']');
        case '｛' -> sb.append('{');
        case '｝' -> sb.append('}');
        case '（' -> sb.append('(');
        case '）' -> sb.append(')');
        default -> sb.append(c);
      }
    }
    return sb.toString();
  }

  private Object value() {
    skipSpace();
    if (i >= s.length()) return null;
    char c = s.charAt(i);
    if (c == '{' || c == '[' || c == '(') {
      if (depth >= MAX_DEPTH) {
        i++;
        return null;
      }
      depth++;
      try {
        return c == '{' ? object() : array();
      } finally {
        depth--;
      }
    }
    if (c == '"' || c == '\'') return string(c);
    if (c == '-' || c == '+' || c == '.' || Character.isDigit(c)) {
      Double d = number();
      if (d != null) return d;
    }
    String word = bare();
    if (word.isEmpty()) {
      i++; // a character no value can start with: skip it
      return null;
    }
    return switch (word) {
      case "true", "True" -> Boolean.TRUE;
      case "false", "False" -> Boolean.FALSE;
      case "null", "None" -> null;
      default -> word;
    };
  }

  private Map<String, Object> object() {
    Map<String, Object> m = new LinkedHashMap<>();
    i++; // {
    while (true) {
      skipSpaceAndCommas();
      if (i >= s.length()) return m;
      char c = s.charAt(i);
      if (c == '}') {
        i++;
        return m;
      }
      if (c == ']') { // mismatched bracket: the object ends here
        return m;
      }
      String key;
      if (c == '"' || c == '\'') key = string(c);
      else key = bareKey();
      if (key.isEmpty()) {
        i++;
        continue;
      }
      skipSpace();
      if (i < s.length() && (s.charAt(i) == ':' || s.charAt(i) == '=')) {
        i++;
        skipSpace();
        Object v = (i < s.length() && s.charAt(i) != ',' && s.charAt(i) != '}') ? value() : null;
        m.put(key, v);
      } else {
        m.put(key, null); // a key without a value
      }
    }
  }

  private List<Object> array() {
    List<Object> a = new ArrayList<>();
    char close = s.charAt(i) == '(' ? ')' : ']';
    i++;
    while (true) {
      skipSpaceAndCommas();
      if (i >= s.length()) return a;
      char c = s.charAt(i);
      if (c == close || c == ']' || c == ')') {
        i++;
        return a;
      }
      if (c == '}') { // mismatched bracket: the array ends here
        return a;
      }
      int before = i;
      Object v = value();
      if (v != null) a.add(v);
      if (i == before) i++;
    }
  }

  private String string(char quote) {
    StringBuilder sb = new StringBuilder();
    i++;
    while (i < s.length()) {
      char c = s.charAt(i++);
      if (c == quote) return sb.toString();
      if (c == '\\' && i < s.length()) {
        char e = s.charAt(i++);
        switch (e) {
          case 'n' -> sb.append('\n');
          case 't' -> sb.append('\t');
          case 'r' -> sb.append('\r');
          case 'u' -> {
            if (i + 4 <= s.length()) {
              try {
                sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                i += 4;
              } catch (NumberFormatException ex) {
                sb.append('u');
              }
            }
          }
          default -> sb.append(e);
        }
      } else {
        sb.append(c);
      }
    }
    return sb.toString(); // cut off inside a string
  }

  private Double number() {
    int start = i;
    if (i < s.length() && (s.charAt(i) == '-' || s.charAt(i) == '+')) i++;
    while (i < s.length() && (Character.isDigit(s.charAt(i)) || s.charAt(i) == '.')) i++;
    if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
      int mark = i;
      i++;
      if (i < s.length() && (s.charAt(i) == '-' || s.charAt(i) == '+')) i++;
      if (i < s.length() && Character.isDigit(s.charAt(i))) {
        while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
      } else {
        i = mark;
      }
    }
    String t = s.substring(start, i);
    try {
      return Double.parseDouble(t);
    } catch (NumberFormatException e) {
      i = start;
      return null;
    }
  }

  /** An unquoted value: up to a structural character or the end of the line. */
  private String bare() {
    int start = i;
    while (i < s.length() && ",:]})[{\n\"".indexOf(s.charAt(i)) < 0) i++;
    return s.substring(start, i).strip();
  }

  /** An unquoted key: up to a colon or a structural character. */
  private String bareKey() {
    int start = i;
    while (i < s.length() && ":=,}]{[\n\"'".indexOf(s.charAt(i)) < 0) i++;
    return s.substring(start, i).strip();
  }

  private void skipSpace() {
    while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
  }

  private void skipSpaceAndCommas() {
    while (i < s.length() && (Character.isWhitespace(s.charAt(i)) || s.charAt(i) == ',')) i++;
  }
}
