package tandem.gateway.http;

import static tandem.gateway.config.GatewaySettings.HTTP_IMAGE_FETCH_SECONDS;
import static tandem.gateway.config.GatewaySettings.HTTP_IMAGE_URL_HOSTS;
import static tandem.gateway.config.GatewaySettings.HTTP_KEEPALIVE_SECONDS;
import static tandem.gateway.config.GatewaySettings.HTTP_PORT;
import static tandem.gateway.config.GatewaySettings.MAX_IMAGE_BYTES;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tandem.common.config.SettingValues;
import tandem.gateway.config.GatewaySettings;

/**
 * Settings of the gateway's HTTP front door (docs/http-api.md).
 *
 * @param port the port; 0 picks a free one
 * @param imageUrlHosts hosts whose http(s) image URLs may be fetched; empty = data: URIs only
 * @param imageFetchSeconds longest fetch of an allowed image URL
 * @param maxImageBytes largest image (decoded data: URI or fetched body)
 * @param keepAliveSeconds SSE keep-alive comment interval while a stream waits
 */
public record HttpSettings(
    int port,
    List<String> imageUrlHosts,
    int imageFetchSeconds,
    int maxImageBytes,
    int keepAliveSeconds) {
  public HttpSettings {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(
          HTTP_PORT.env() + " must be 0..65535 (0 picks a free port), got " + port);
    }
    if (imageFetchSeconds < 1) {
      throw new IllegalArgumentException(
          HTTP_IMAGE_FETCH_SECONDS.env() + " must be at least 1, got " + imageFetchSeconds);
    }
    if (maxImageBytes < 1) {
      throw new IllegalArgumentException(
          "the image size limit must be positive, got " + maxImageBytes);
    }
    if (keepAliveSeconds < 1) {
      throw new IllegalArgumentException(
          HTTP_KEEPALIVE_SECONDS.env() + " must be at least 1, got " + keepAliveSeconds);
    }
    imageUrlHosts = List.copyOf(imageUrlHosts);
  }

  /**
   * From the gateway's settings: the port is {@code portOverride} when not null, else the HTTP port
   * setting when set, else {@code defaultPort} (the split gateway's is -1, the all-in-one server's
   * 8080); null (no HTTP port) when that port is negative.
   */
  public static HttpSettings from(SettingValues v, int defaultPort, Integer portOverride) {
    Integer set = v.get(HTTP_PORT);
    int port = portOverride != null ? portOverride : set != null ? set : defaultPort;
    if (port < 0) return null;
    List<String> hosts = new ArrayList<>();
    for (String h : v.get(HTTP_IMAGE_URL_HOSTS).split(",")) {
      if (!h.isBlank()) hosts.add(h.strip().toLowerCase(Locale.ROOT));
    }
    return new HttpSettings(
        port,
        hosts,
        v.get(HTTP_IMAGE_FETCH_SECONDS),
        v.get(MAX_IMAGE_BYTES),
        v.get(HTTP_KEEPALIVE_SECONDS));
  }

  /** Defaults on {@code port} (tests). */
  public static HttpSettings onPort(int port) {
    return from(GatewaySettings.defaults(), port, port);
  }

  public HttpSettings withImageUrlHosts(List<String> hosts) {
    return new HttpSettings(port, hosts, imageFetchSeconds, maxImageBytes, keepAliveSeconds);
  }
}
