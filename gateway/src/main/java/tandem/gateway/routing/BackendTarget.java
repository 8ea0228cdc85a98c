package tandem.gateway.routing;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What {@code TANDEM_VISION_ADDR} / {@code TANDEM_DECODER_ADDR} name: one {@code host:port} or a
 * comma-separated list of them. A host that is a DNS name is looked up again on every refresh and
 * each address it resolves to is one endpoint (a Kubernetes headless Service lists one address per
 * ready pod); an IP literal is one endpoint. A leading {@code dns:///} (gRPC's target syntax, which
 * older charts wrote) is accepted and ignored.
 */
public record BackendTarget(String text, List<HostPort> entries) {
  /** One entry of the list; {@code host} is a name or an IP literal (IPv6 without brackets). */
  public record HostPort(String host, int port) {
    /** {@code host:port}, with brackets around an IPv6 literal. */
    public String authority() {
      return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
  }

  public BackendTarget {
    entries = List.copyOf(entries);
    if (entries.isEmpty())
      throw new IllegalArgumentException("no backend address in '" + text + "'");
  }

  /**
   * Parses {@code host:port[,host:port…]}; {@code what} names the setting in errors, e.g.
   * TANDEM_VISION_ADDR. An empty entry, a missing or bad port, or an unbracketed IPv6 literal is an
   * error that quotes the entry.
   */
  public static BackendTarget parse(String what, String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException(
          what + " is empty; give host:port or a comma-separated list of host:port");
    }
    List<HostPort> out = new ArrayList<>();
    for (String raw : text.split(",", -1)) {
      String e = raw.trim();
      if (e.toLowerCase(Locale.ROOT).startsWith("dns:///")) e = e.substring("dns:///".length());
      if (e.isEmpty())
        throw new IllegalArgumentException(what + "=" + text + ": an empty entry in the list");
      String host;
      String port;
      if (e.startsWith("[")) {
        int close = e.indexOf(']');
        if (close < 0 || close + 1 >= e.length() || e.charAt(close + 1) != ':') {
          throw new IllegalArgumentException(
              what + "=" + text + ": '" + e + "' is not [ipv6]:port");
        }
        host = e.substring(1, close);
        port = e.substring(close + 2);
      } else {
        int colon = e.lastIndexOf(':');
        if (colon <= 0 || e.indexOf(':') != colon) {
          throw new IllegalArgumentException(
              what
                  + "="
                  + text
                  + ": '"
                  + e
                  + "' is not host:port"
                  + (e.indexOf(':') != colon ? " (write an IPv6 address as [addr]:port)" : ""));
        }
        host = e.substring(0, colon);
        port = e.substring(colon + 1);
      }
      if (host.isBlank() || host.contains("/") || host.contains(" ")) {
        throw new IllegalArgumentException(what + "=" + text + ": '" + e + "' has no usable host");
      }
      int p;
      try {
        p = Integer.parseInt(port);
      } catch (NumberFormatException ex) {
        throw new IllegalArgumentException(
            what + "=" + text + ": '" + e + "' has no port number (host:port)");
      }
      if (p < 1 || p > 65535)
        throw new IllegalArgumentException(
            what + "=" + text + ": port " + p + " is out of 1..65535");
      HostPort hp = new HostPort(host, p);
      if (!out.contains(hp)) out.add(hp);
    }
    return new BackendTarget(text.trim(), out);
  }

  @Override
  public String toString() {
    return text;
  }
}
