package tandem.common.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Where the Hub is, who we are to it and where its files are cached, read from the same environment
 * variables the Python {@code huggingface_hub} library reads, so that both tools share one cache
 * and one login.
 *
 * @param endpoint Hub base URL without a trailing slash ({@code HF_ENDPOINT}, default
 *     https://huggingface.co)
 * @param token access token or null ({@code HF_TOKEN}, else the file {@code $HF_HOME/token} that
 *     {@code hf auth login} writes)
 * @param cacheDir the hub cache root holding {@code models--org--name} folders ({@code
 *     HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub})
 * @param offline {@code HF_HUB_OFFLINE}: never touch the network, use only the cache
 */
public record HubSettings(URI endpoint, String token, Path cacheDir, boolean offline) {
  public static final String ENV_ENDPOINT = "HF_ENDPOINT";
  public static final String ENV_TOKEN = "HF_TOKEN";
  public static final String ENV_HOME = "HF_HOME";
  public static final String ENV_HUB_CACHE = "HF_HUB_CACHE";
  public static final String ENV_OFFLINE = "HF_HUB_OFFLINE";
  public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

  public HubSettings {
    if (endpoint == null || endpoint.getScheme() == null || endpoint.getHost() == null) {
      throw new IllegalArgumentException(
          ENV_ENDPOINT
              + "="
              + endpoint
              + " is not an absolute http(s) URL such as "
              + DEFAULT_ENDPOINT);
    }
    String scheme = endpoint.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException(
          ENV_ENDPOINT + "=" + endpoint + " must be an http or https URL");
    }
    String s = endpoint.toString();
    if (s.endsWith("/")) endpoint = URI.create(s.substring(0, s.length() - 1));
    if (token != null && token.isBlank()) token = null;
    if (cacheDir == null) throw new IllegalArgumentException("cacheDir is required");
  }

  /** Settings from the process environment. */
  public static HubSettings fromEnvironment() {
    return fromEnv(System.getenv(), Path.of(System.getProperty("user.home")));
  }

  /**
   * Settings from an environment map; {@code home} is the user's home folder. Legacy names ({@code
   * HUGGINGFACE_HUB_CACHE}, {@code HUGGING_FACE_HUB_TOKEN}) are honoured after the current ones, as
   * in Python.
   */
  public static HubSettings fromEnv(Map<String, String> env, Path home) {
    String endpoint = nonBlank(env.get(ENV_ENDPOINT), DEFAULT_ENDPOINT);
    URI uri;
    try {
      uri = URI.create(endpoint);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(ENV_ENDPOINT + "=" + endpoint + " is not a valid URL");
    }
    Path hfHome =
        Path.of(
            nonBlank(env.get(ENV_HOME), home.resolve(".cache").resolve("huggingface").toString()));
    String cache =
        nonBlank(env.get(ENV_HUB_CACHE), nonBlank(env.get("HUGGINGFACE_HUB_CACHE"), null));
    Path cacheDir = cache != null ? Path.of(cache) : hfHome.resolve("hub");
    String token = nonBlank(env.get(ENV_TOKEN), nonBlank(env.get("HUGGING_FACE_HUB_TOKEN"), null));
    if (token == null) token = readTokenFile(hfHome.resolve("token"));
    return new HubSettings(uri, token, cacheDir, truthy(env.get(ENV_OFFLINE)));
  }

  public HubSettings withCacheDir(Path dir) {
    return new HubSettings(endpoint, token, dir, offline);
  }

  public HubSettings withOffline(boolean off) {
    return new HubSettings(endpoint, token, cacheDir, off);
  }

  public HubSettings withToken(String t) {
    return new HubSettings(endpoint, t, cacheDir, offline);
  }

  /** Python's reading of boolean env vars: 1, ON, YES, TRUE (any case). */
  static boolean truthy(String v) {
    if (v == null) return false;
    return switch (v.trim().toUpperCase(Locale.ROOT)) {
      case "1", "ON", "YES", "TRUE" -> true;
      default -> false;
    };
  }

  private static String readTokenFile(Path file) {
    try {
      if (!Files.isRegularFile(file)) return null;
      String t = Files.readString(file, StandardCharsets.UTF_8).trim();
      return t.isEmpty() ? null : t;
    } catch (IOException e) {
      return null; // an unreadable token file is the same as no login; the Hub's 401 then says what
      // to do
    }
  }

  private static String nonBlank(String v, String def) {
    return v == null || v.isBlank() ? def : v.trim();
  }

  @Override
  public String toString() {
    // Never print the token.
    return "HubSettings[endpoint="
        + endpoint
        + ", token="
        + (token == null ? "none" : "set")
        + ", cacheDir="
        + cacheDir
        + ", offline="
        + offline
        + "]";
  }
}
