package tandem.common.hub;

import java.util.regex.Pattern;

/**
 * A model repository on the Hub and a revision in it (branch, tag or 40-hex commit), parsed from
 * {@code org/name[@revision]}.
 */
public record RepoRef(String repoId, String revision) {
  public static final String DEFAULT_REVISION = "main";
  // The Hub's own rule: letters, digits, '-', '_', '.'; no "--" or ".." (they would break the cache
  // folder name);
  // at most 96 characters per part. A bare name (legacy repos like "gpt2") has no owner.
  private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
  private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

  public RepoRef {
    checkRepoId(repoId);
    if (revision == null || revision.isEmpty()) revision = DEFAULT_REVISION;
    checkRevision(revision);
  }

  /** Parses {@code org/name}, {@code org/name@rev} or a bare legacy {@code name}. */
  public static RepoRef parse(String text) {
    if (text == null || text.isBlank()) throw new IllegalArgumentException("empty repository id");
    String s = text.trim();
    int at = s.indexOf('@');
    if (at >= 0) return new RepoRef(s.substring(0, at), s.substring(at + 1));
    return new RepoRef(s, DEFAULT_REVISION);
  }

  /**
   * True when the text has the shape of a repo id (so it is worth asking the Hub), false for other
   * paths.
   */
  public static boolean looksLikeRepoId(String text) {
    try {
      parse(text);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  public RepoRef withRevision(String rev) {
    return new RepoRef(repoId, rev);
  }

  /**
   * True when the revision is a full commit hash, which never moves (no ref file is needed for it).
   */
  public boolean revisionIsCommit() {
    return isCommitHash(revision);
  }

  public static boolean isCommitHash(String s) {
    return s != null && COMMIT.matcher(s).matches();
  }

  /** The cache folder name, as Python names it: {@code models--org--name}. */
  public String cacheFolderName() {
    return "models--" + repoId.replace("/", "--");
  }

  @Override
  public String toString() {
    return repoId + "@" + revision;
  }

  private static void checkRepoId(String id) {
    String allowed =
        "; expected org/name (letters, digits, '-', '_', '.', no '--' or '..', at most 96"
            + " characters a part), optionally followed by @revision";
    if (id == null || id.isEmpty())
      throw new IllegalArgumentException("empty repository id" + allowed);
    String[] parts = id.split("/", -1);
    if (parts.length > 2)
      throw new IllegalArgumentException("'" + id + "' is not a repository id" + allowed);
    for (String p : parts) {
      if (!PART.matcher(p).matches() || p.contains("--") || p.contains("..") || p.endsWith(".")) {
        throw new IllegalArgumentException("'" + id + "' is not a repository id" + allowed);
      }
    }
  }

  private static void checkRevision(String rev) {
    // Branch names may contain '/', e.g. refs/pr/1; anything that could climb out of the refs
    // folder is refused.
    boolean bad =
        rev.startsWith("/") || rev.endsWith("/") || rev.contains("..") || rev.contains("//");
    for (int i = 0; i < rev.length() && !bad; i++) {
      char c = rev.charAt(i);
      bad =
          c <= ' ' || c == '\\' || c == '@' || c == ':' || c == '?' || c == '*' || c == '~'
              || c == '^';
    }
    if (bad) {
      throw new IllegalArgumentException(
          "'"
              + rev
              + "' is not a revision; expected a branch, tag or 40-hex commit such as main or"
              + " v1.0");
    }
  }
}
