package tandem.common.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/1.1 written by hand on a socket, for tests that must hang up in the middle of a response.
 */
public final class RawHttp {
  private RawHttp() {}

  /**
   * Sends {@code POST path} with a JSON {@code body} on {@code s}; the response is left to read
   * from the socket.
   */
  public static void postJson(Socket s, String path, byte[] body) throws IOException {
    OutputStream o = s.getOutputStream();
    o.write(
        ("POST "
                + path
                + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    o.write(body);
    o.flush();
  }
}
