package tandem.gateway.http;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import tandem.common.error.Rejection;
import tandem.gateway.config.GatewaySettings;

/**
 * Fetches http(s) image URLs for the HTTP API, only from the hosts of TANDEM_HTTP_IMAGE_URL_HOSTS:
 * by default none, so a client cannot make the gateway call addresses inside the cluster (SSRF).
 * Redirects are not followed (they could lead elsewhere); the body is capped at the image size
 * limit and the whole fetch at the fetch timeout.
 */
final class ImageFetcher implements ChatCompletionRequest.ImageFetcher {
  private final List<String> hosts;
  private final int maxBytes;
  private final Duration timeout;
  private final HttpClient client;

  ImageFetcher(HttpSettings s) {
    this.hosts = s.imageUrlHosts();
    this.maxBytes = s.maxImageBytes();
    this.timeout = Duration.ofSeconds(s.imageFetchSeconds());
    this.client =
        hosts.isEmpty()
            ? null
            : HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(timeout)
                .build();
  }

  @Override
  public ByteBuffer fetch(String url, String where) {
    URI uri;
    try {
      uri = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw Rejection.invalid(where + ": not a valid URL (" + e.getMessage() + ")");
    }
    String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
    if (client == null || !hosts.contains(host)) {
      throw Rejection.invalid(
          where
              + ": image URLs are refused"
              + (hosts.isEmpty()
                  ? ""
                  : " for host '" + host + "' (allowed hosts: " + String.join(", ", hosts) + ")")
              + "; send the image inline as a data: URI "
              + "(data:image/png;base64,...), or let the operator allow the host ("
              + GatewaySettings.HTTP_IMAGE_URL_HOSTS.env()
              + ")");
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      HttpResponse<InputStream> r =
          client.send(
              HttpRequest.newBuilder(uri).timeout(timeout).GET().build(),
              HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream in = r.body()) {
        if (r.statusCode() != 200) {
          throw Rejection.invalid(
              where
                  + ": fetching the image gave HTTP "
                  + r.statusCode()
                  + " (redirects are not followed)");
        }
        byte[] buf = in.readNBytes(maxBytes + 1);
        if (buf.length > maxBytes) {
          throw Rejection.tooLarge(
              where
                  + ": the image at the URL is more than "
                  + maxBytes
                  + " bytes; the limit is "
                  + maxBytes
                  + " ("
                  + GatewaySettings.MAX_IMAGE_BYTES.env()
                  + "="
                  + maxBytes
                  + ")");
        }
        if (System.nanoTime() > deadline) {
          throw Rejection.invalid(
              where
                  + ": fetching the image took longer than "
                  + timeout.toSeconds()
                  + " s ("
                  + GatewaySettings.HTTP_IMAGE_FETCH_SECONDS.env()
                  + ")");
        }
        return ByteBuffer.wrap(buf);
      }
    } catch (IOException e) {
      throw Rejection.invalid(
          where
              + ": cannot fetch the image ("
              + e.getClass().getSimpleName()
              + ": "
              + e.getMessage()
              + ")");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Rejection(Rejection.Kind.CANCELLED, "interrupted while fetching an image");
    }
  }
}
