package tandem.gateway.limits;

import static tandem.gateway.config.GatewaySettings.MAX_ID_BYTES;
import static tandem.gateway.config.GatewaySettings.MAX_MESSAGES;
import static tandem.gateway.config.GatewaySettings.MAX_NO_REPEAT_NGRAM_SIZE;
import static tandem.gateway.config.GatewaySettings.MAX_PARTS_PER_MESSAGE;
import static tandem.gateway.config.GatewaySettings.MAX_REQUEST_BYTES;
import static tandem.gateway.config.GatewaySettings.MAX_STOP_STRINGS;
import static tandem.gateway.config.GatewaySettings.MAX_STOP_STRING_BYTES;
import static tandem.gateway.config.GatewaySettings.MAX_STOP_TOKEN_IDS;
import static tandem.gateway.config.GatewaySettings.MAX_TEXT_BYTES;

import java.util.List;
import tandem.common.config.SettingValues;
import tandem.gateway.config.GatewaySettings;

/**
 * Bounds on the shape of a ChatRequest, all checked before any costly step (tokenizing, decoding an
 * image): its serialized size, message and part counts, text bytes, id lengths and the generation
 * parameters whose cost grows with their value. Names and defaults: {@link GatewaySettings}.
 *
 * @param maxRequestBytes serialized ChatRequest (also the public port's gRPC message limit)
 * @param maxMessages messages per request
 * @param maxPartsPerMessage content parts per message
 * @param maxTextBytes UTF-8 bytes of text over the whole request
 * @param maxIdBytes request_id and image_id length (printable ASCII only)
 * @param maxStopTokenIds entries of params.stop_token_ids
 * @param maxNoRepeatNgramSize largest params.no_repeat_ngram_size
 * @param maxStopStrings stop strings per request
 * @param maxStopStringBytes UTF-8 bytes of one stop string
 */
public record InputLimits(
    int maxRequestBytes,
    int maxMessages,
    int maxPartsPerMessage,
    int maxTextBytes,
    int maxIdBytes,
    int maxStopTokenIds,
    int maxNoRepeatNgramSize,
    int maxStopStrings,
    int maxStopStringBytes) {
  public InputLimits {
    if (maxRequestBytes < 1
        || maxMessages < 1
        || maxPartsPerMessage < 1
        || maxTextBytes < 1
        || maxIdBytes < 1
        || maxStopTokenIds < 0
        || maxNoRepeatNgramSize < 0
        || maxStopStrings < 0
        || maxStopStringBytes < 1) {
      throw new IllegalArgumentException(
          "gateway input limits must be positive (stop ids and n-gram size >= 0): "
              + maxRequestBytes
              + ", "
              + maxMessages
              + ", "
              + maxPartsPerMessage
              + ", "
              + maxTextBytes
              + ", "
              + maxIdBytes
              + ", "
              + maxStopTokenIds
              + ", "
              + maxNoRepeatNgramSize
              + ", stop strings "
              + maxStopStrings
              + " of "
              + maxStopStringBytes
              + " bytes");
    }
  }

  public static InputLimits defaults() {
    return from(GatewaySettings.defaults());
  }

  public static InputLimits from(SettingValues v) {
    return new InputLimits(
        v.get(MAX_REQUEST_BYTES),
        v.get(MAX_MESSAGES),
        v.get(MAX_PARTS_PER_MESSAGE),
        v.get(MAX_TEXT_BYTES),
        v.get(MAX_ID_BYTES),
        v.get(MAX_STOP_TOKEN_IDS),
        v.get(MAX_NO_REPEAT_NGRAM_SIZE),
        v.get(MAX_STOP_STRINGS),
        v.get(MAX_STOP_STRING_BYTES));
  }

  public InputLimits withMaxRequestBytes(int n) {
    return new InputLimits(
        n,
        maxMessages,
        maxPartsPerMessage,
        maxTextBytes,
        maxIdBytes,
        maxStopTokenIds,
        maxNoRepeatNgramSize,
        maxStopStrings,
        maxStopStringBytes);
  }

  public InputLimits withMaxTextBytes(int n) {
    return new InputLimits(
        maxRequestBytes,
        maxMessages,
        maxPartsPerMessage,
        n,
        maxIdBytes,
        maxStopTokenIds,
        maxNoRepeatNgramSize,
        maxStopStrings,
        maxStopStringBytes);
  }

  /** "limit N (VARIABLE=N)", the tail of every refusal. */
  public static String limit(long value, String variable) {
    return "the limit is " + value + " (" + variable + "=" + value + ")";
  }

  /** At least one message and at most {@code maxMessages}. */
  public void checkMessages(int n) {
    if (n == 0) throw GatewayLimits.invalid("the request has no messages");
    if (n > maxMessages) {
      throw GatewayLimits.invalid(
          "the request has " + n + " messages; " + limit(maxMessages, MAX_MESSAGES.env()));
    }
  }

  /** Message {@code index} has at most {@code maxPartsPerMessage} parts. */
  public void checkParts(int index, int parts) {
    if (parts > maxPartsPerMessage) {
      throw GatewayLimits.invalid(
          "message "
              + index
              + " has "
              + parts
              + " parts; "
              + limit(maxPartsPerMessage, MAX_PARTS_PER_MESSAGE.env()));
    }
  }

  /**
   * The text bytes counted up to and including message {@code index} are at most {@code
   * maxTextBytes}.
   */
  public void checkTextBytes(long bytes, int index) {
    if (bytes > maxTextBytes) {
      throw GatewayLimits.invalid(
          "the request has more than "
              + maxTextBytes
              + " bytes of text ("
              + bytes
              + " by message "
              + index
              + "); "
              + limit(maxTextBytes, MAX_TEXT_BYTES.env()));
    }
  }

  /**
   * An id a client chose (request_id, image_id): at most {@code maxIdBytes} printable ASCII
   * characters, so that it can be echoed and logged as it is.
   */
  public void checkId(String what, String id) {
    if (id.length() > maxIdBytes) {
      throw GatewayLimits.invalid(
          what
              + " is "
              + id.length()
              + " characters long; "
              + limit(maxIdBytes, MAX_ID_BYTES.env()));
    }
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c < 0x21 || c > 0x7e) {
        throw GatewayLimits.invalid(
            what
                + " has a character that is not printable ASCII at index "
                + i
                + " (allowed: '!' to '~', no spaces)");
      }
    }
  }

  /** Stop strings: how many, none empty, each at most maxStopStringBytes. */
  public void checkStop(List<String> stop) {
    if (stop.size() > maxStopStrings) {
      throw GatewayLimits.invalid(
          "the request has "
              + stop.size()
              + " stop strings; "
              + limit(maxStopStrings, MAX_STOP_STRINGS.env()));
    }
    for (int i = 0; i < stop.size(); i++) {
      if (stop.get(i).isEmpty()) {
        throw GatewayLimits.invalid(
            "stop string " + i + " is empty; a stop string needs at least one character");
      }
      long n = utf8Length(stop.get(i));
      if (n > maxStopStringBytes) {
        throw GatewayLimits.invalid(
            "stop string "
                + i
                + " is "
                + n
                + " bytes; "
                + limit(maxStopStringBytes, MAX_STOP_STRING_BYTES.env()));
      }
    }
  }

  /**
   * UTF-8 length of {@code s} without encoding it (a lone surrogate counts 3 bytes, as its
   * replacement does).
   */
  public static long utf8Length(CharSequence s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (Character.isHighSurrogate(c)
          && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else n += 3;
    }
    return n;
  }
}
