package tandem.gateway.http;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;

/**
 * Settings of the gateway's HTTP front door (docs/http-api.md).
 *
 * @param port the port; 0 picks a free one
 * @param imageUrlHosts hosts whose http(s) image URLs may be fetched; empty = data: URIs only
 * @param imageFetchSeconds longest fetch of an allowed image URL
 * @param maxImageBytes largest image (decoded data: URI or fetched body)
 * @param keepAliveSeconds SSE keep-alive comment interval while a stream waits
 */
public record HttpSettings(int port, List<String> imageUrlHosts, int imageFetchSeconds, int maxImageBytes,
    int keepAliveSeconds) {
  public HttpSettings {
    if (port < 0 || port > 65535) throw new IllegalArgumentException(ServiceDefaults.ENV_HTTP_PORT + " must be 0..65535 (0 picks a free port), got " + port);
    if (imageFetchSeconds < 1) throw new IllegalArgumentException(ServiceDefaults.ENV_HTTP_IMAGE_FETCH_SECONDS + " must be at least 1, got " + imageFetchSeconds);
    if (maxImageBytes < 1) throw new IllegalArgumentException("the image size limit must be positive, got " + maxImageBytes);
    if (keepAliveSeconds < 1) throw new IllegalArgumentException(ServiceDefaults.ENV_HTTP_KEEPALIVE_SECONDS + " must be at least 1, got " + keepAliveSeconds);
    imageUrlHosts = List.copyOf(imageUrlHosts);
  }

  /**
   * From the environment; {@code defaultPort} when TANDEM_HTTP_PORT is unset, and null (no HTTP port) when the
   * resulting port is negative ({@code -1} turns it off).
   */
  public static HttpSettings fromEnv(Env env, int defaultPort, Integer portOverride) {
    int port = portOverride != null ? portOverride : env.integer(ServiceDefaults.ENV_HTTP_PORT, defaultPort);
    if (port < 0) return null;
    List<String> hosts = new ArrayList<>();
    for (String h : env.string(ServiceDefaults.ENV_HTTP_IMAGE_URL_HOSTS, ServiceDefaults.DEFAULT_HTTP_IMAGE_URL_HOSTS).split(",")) {
      if (!h.isBlank()) hosts.add(h.strip().toLowerCase(Locale.ROOT));
    }
    return new HttpSettings(port, hosts,
        env.integer(ServiceDefaults.ENV_HTTP_IMAGE_FETCH_SECONDS, ServiceDefaults.DEFAULT_HTTP_IMAGE_FETCH_SECONDS),
        env.integer(ServiceDefaults.ENV_VISION_MAX_IMAGE_BYTES, ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_BYTES),
        env.integer(ServiceDefaults.ENV_HTTP_KEEPALIVE_SECONDS, ServiceDefaults.DEFAULT_HTTP_KEEPALIVE_SECONDS));
  }

  /** Defaults on {@code port} (tests). */
  public static HttpSettings onPort(int port) {
    return new HttpSettings(port, List.of(), ServiceDefaults.DEFAULT_HTTP_IMAGE_FETCH_SECONDS,
        ServiceDefaults.DEFAULT_VISION_MAX_IMAGE_BYTES, ServiceDefaults.DEFAULT_HTTP_KEEPALIVE_SECONDS);
  }

  public HttpSettings withImageUrlHosts(List<String> hosts) {
    return new HttpSettings(port, hosts, imageFetchSeconds, maxImageBytes, keepAliveSeconds);
  }
}
