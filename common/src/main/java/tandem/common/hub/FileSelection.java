package tandem.common.hub;

import java.util.List;
import java.util.regex.Pattern;

/**
 * Which repository files to fetch, by glob patterns matched like Python's {@code fnmatch} (as
 * {@code allow_patterns} in {@code snapshot_download}): {@code *} matches any run of characters
 * including '/', {@code ?} one character, {@code [abc]} / {@code [!abc]} a set.
 */
public record FileSelection(List<String> patterns) {
  /**
   * What serving needs: configs, weights, tokenizer files, chat templates, vocab/merges text files.
   */
  public static final List<String> SERVING =
      List.of("*.json", "*.safetensors", "tokenizer*", "*.jinja", "*.txt");

  public FileSelection {
    if (patterns == null || patterns.isEmpty())
      throw new IllegalArgumentException("no file patterns");
    patterns = List.copyOf(patterns);
    for (String p : patterns) toRegex(p); // fail early on a malformed pattern
  }

  public static FileSelection serving() {
    return new FileSelection(SERVING);
  }

  public boolean matches(String file) {
    for (String p : patterns) {
      if (toRegex(p).matcher(file).matches()) return true;
    }
    return false;
  }

  public List<String> select(List<String> files) {
    return files.stream().filter(this::matches).toList();
  }

  static Pattern toRegex(String glob) {
    if (glob == null || glob.isEmpty()) throw new IllegalArgumentException("empty file pattern");
    StringBuilder re = new StringBuilder();
    for (int i = 0; i < glob.length(); i++) {
      char c = glob.charAt(i);
      switch (c) {
        case '*' -> re.append(".*");
        case '?' -> re.append('.');
        case '[' -> {
          int j = glob.indexOf(']', i + 2);
          if (j < 0) {
            re.append("\\[");
          } else {
            String set = glob.substring(i + 1, j);
            re.append('[');
            if (set.startsWith("!")) {
              re.append('^');
              set = set.substring(1);
            }
            re.append(set.replace("\\", "\\\\").replace("[", "\\[").replace("&&", "\\&\\&"));
            re.append(']');
            i = j;
          }
        }
        default -> re.append(Pattern.quote(String.valueOf(c)));
      }
    }
    return Pattern.compile(re.toString(), Pattern.DOTALL);
  }
}
