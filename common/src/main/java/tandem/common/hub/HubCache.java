package tandem.common.hub;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Hugging Face hub cache layout, byte-compatible with Python's {@code huggingface_hub} so
 * either tool reuses what the other downloaded:
 *
 * <pre>
 * {root}/models--org--name/
 *   blobs/{etag}                     file content, named by its git-sha1 (small files) or LFS sha256
 *   blobs/{etag}.incomplete          a download in progress; resumed with a Range request
 *   snapshots/{commit}/{file}        relative symlink to ../../blobs/{etag} (one more ../ per subfolder)
 *   refs/{revision}                  the commit a branch or tag pointed to, no trailing newline
 * {root}/.locks/models--org--name/{etag}.lock
 * </pre>
 */
public final class HubCache {
  private static final Pattern SAFE_ETAG = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private final Path root;

  public HubCache(Path root) {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  public Path repoDir(RepoRef ref) {
    return root.resolve(ref.cacheFolderName());
  }

  public Path blobPath(RepoRef ref, String etag) {
    checkEtag(etag);
    return repoDir(ref).resolve("blobs").resolve(etag);
  }

  public Path incompletePath(RepoRef ref, String etag) {
    checkEtag(etag);
    return repoDir(ref).resolve("blobs").resolve(etag + ".incomplete");
  }

  public Path lockPath(RepoRef ref, String etag) {
    checkEtag(etag);
    return root.resolve(".locks").resolve(ref.cacheFolderName()).resolve(etag + ".lock");
  }

  public Path snapshotDir(RepoRef ref, String commit) {
    if (!RepoRef.isCommitHash(commit))
      throw new IllegalArgumentException("not a commit hash: " + commit);
    return repoDir(ref).resolve("snapshots").resolve(commit);
  }

  private Path refFile(RepoRef ref) {
    Path refs = repoDir(ref).resolve("refs");
    return refs.resolve(ref.revision()).normalize();
  }

  /**
   * The commit this revision is known to point to: the revision itself for a commit hash, else
   * refs/{rev}.
   */
  public Optional<String> commitFor(RepoRef ref) {
    if (ref.revisionIsCommit()) return Optional.of(ref.revision());
    Path f = refFile(ref);
    try {
      if (!Files.isRegularFile(f)) return Optional.empty();
      String c = Files.readString(f, StandardCharsets.UTF_8).trim();
      return RepoRef.isCommitHash(c) ? Optional.of(c) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * Records that the revision points to the commit (nothing to record when the revision is the
   * commit).
   */
  public void writeRef(RepoRef ref, String commit) throws IOException {
    if (ref.revisionIsCommit()) return;
    Path f = refFile(ref);
    Files.createDirectories(f.getParent());
    Path tmp = Files.createTempFile(f.getParent(), ".ref", ".tmp");
    Files.writeString(tmp, commit, StandardCharsets.UTF_8);
    moveReplacing(tmp, f);
  }

  /**
   * The snapshot folder for this revision if the cache knows the revision and the folder exists.
   */
  public Optional<Path> snapshotFor(RepoRef ref) {
    return commitFor(ref).map(c -> snapshotDir(ref, c)).filter(Files::isDirectory);
  }

  /**
   * Points snapshots/{commit}/{file} at the blob with a relative symlink, replacing whatever was
   * there. The link is made under a temporary name and renamed into place, so processes linking the
   * same file at once (pods sharing a volume) cannot trip over each other. Where the file system
   * has no symlinks the blob is copied instead (as Python does on such systems).
   */
  public Path link(RepoRef ref, String commit, String file, String etag) throws IOException {
    Path snap = snapshotDir(ref, commit);
    Path dst = snapshotFile(snap, file);
    Path blob = blobPath(ref, etag);
    Files.createDirectories(dst.getParent());
    Path target = dst.getParent().relativize(blob);
    if (Files.isSymbolicLink(dst) && Files.readSymbolicLink(dst).equals(target)) return dst;
    Path tmp =
        dst.resolveSibling("." + dst.getFileName() + "." + java.util.UUID.randomUUID() + ".tmp");
    try {
      Files.createSymbolicLink(tmp, target);
    } catch (UnsupportedOperationException | FileSystemException e) {
      Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
    }
    try {
      moveReplacing(tmp, dst);
    } finally {
      Files.deleteIfExists(tmp);
    }
    return dst;
  }

  /**
   * The path of a repository file inside a snapshot; refuses names that would leave the snapshot
   * folder.
   */
  public static Path snapshotFile(Path snapshot, String file) {
    checkRepoFilename(file);
    return snapshot.resolve(file);
  }

  /**
   * What keeps a cached snapshot from being served: a dangling link, a missing config.json, no
   * weights, a shard named by model.safetensors.index.json that is absent. Empty when the snapshot
   * looks complete. This is what offline mode can check without the Hub's file list, and it works
   * the same on caches written by Python.
   */
  public static List<String> servingProblems(Path snapshot) {
    List<String> problems = new ArrayList<>();
    if (!Files.isDirectory(snapshot)) {
      problems.add("no snapshot folder " + snapshot);
      return problems;
    }
    boolean anyWeights = false;
    try (Stream<Path> files = Files.walk(snapshot)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        if (Files.isDirectory(p)) continue;
        String rel = snapshot.relativize(p).toString();
        if (!Files.exists(p)) {
          problems.add(rel + " points to a missing blob");
          continue;
        }
        if (rel.endsWith(".safetensors")) anyWeights = true;
        String damaged = blobHashProblem(p);
        if (damaged != null) problems.add(rel + " " + damaged);
      }
    } catch (IOException e) {
      problems.add("cannot read " + snapshot + ": " + e.getMessage());
    }
    if (!Files.isRegularFile(snapshot.resolve("config.json")))
      problems.add("config.json is missing");
    Path index = snapshot.resolve("model.safetensors.index.json");
    if (Files.isRegularFile(index)) {
      for (String shard : shardsOf(index, problems)) {
        if (!Files.isRegularFile(snapshot.resolve(shard)))
          problems.add(shard + " (listed in the index) is missing");
      }
    } else if (!anyWeights) {
      problems.add("no *.safetensors weights");
    }
    return problems;
  }

  /**
   * A cached blob is named by its content hash (sha256 for LFS files, git's blob sha1 for small
   * ones): when it is, the bytes must still hash to it, or the file was damaged or swapped after
   * the download. Null when fine or when the name is not a hash.
   */
  static String blobHashProblem(Path snapshotFile) {
    try {
      String blob = snapshotFile.toRealPath().getFileName().toString();
      Path real = snapshotFile.toRealPath();
      String actual;
      if (blob.matches("[0-9a-f]{64}")) actual = SnapshotDownloader.digest(real, "SHA-256", null);
      else if (blob.matches("[0-9a-f]{40}"))
        actual = SnapshotDownloader.digest(real, "SHA-1", "blob " + Files.size(real) + "\0");
      else return null;
      return actual.equals(blob)
          ? null
          : "does not match its hash " + blob + " (the cached blob is damaged)";
    } catch (IOException e) {
      return "cannot be read: " + e.getMessage();
    }
  }

  private static List<String> shardsOf(Path index, List<String> problems) {
    List<String> shards = new ArrayList<>();
    try {
      JsonObject o =
          JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8)).getAsJsonObject();
      JsonObject map = o.getAsJsonObject("weight_map");
      if (map == null) {
        problems.add(index.getFileName() + " has no weight_map");
        return shards;
      }
      for (var e : map.entrySet()) {
        JsonElement v = e.getValue();
        String s = v.getAsString();
        checkRepoFilename(s);
        if (!shards.contains(s)) shards.add(s);
      }
    } catch (IOException | RuntimeException e) {
      problems.add(index.getFileName() + " is unreadable: " + e.getMessage());
    }
    return shards;
  }

  static void checkRepoFilename(String file) {
    boolean bad =
        file == null
            || file.isEmpty()
            || file.startsWith("/")
            || file.contains("\\")
            || file.contains("\0")
            || Path.of(file).isAbsolute();
    if (!bad) {
      for (String part : file.split("/", -1)) {
        if (part.isEmpty() || part.equals(".") || part.equals("..")) bad = true;
      }
    }
    if (bad)
      throw new IllegalArgumentException("unsafe file name in repository listing: '" + file + "'");
  }

  static void checkEtag(String etag) {
    if (etag == null || !SAFE_ETAG.matcher(etag).matches() || etag.endsWith(".incomplete")) {
      throw new IllegalArgumentException("unsafe or missing ETag from the Hub: '" + etag + "'");
    }
  }

  static void moveReplacing(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  static boolean existsNoFollow(Path p) {
    return Files.exists(p, LinkOption.NOFOLLOW_LINKS);
  }
}
