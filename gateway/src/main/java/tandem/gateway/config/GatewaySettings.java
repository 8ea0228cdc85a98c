package tandem.gateway.config;

import java.util.List;
import java.util.Map;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.config.ServiceDefaults;
import tandem.common.config.Setting;
import tandem.common.config.SettingRegistry;
import tandem.common.config.SettingValues;

/**
 * Every setting of the gateway, declared once: its flag, variable, default and allowed values.
 * {@code vlm serve gateway} makes its options from {@link #REGISTRY}, docs/gateway.md shows its
 * table, and the gateway's records ({@code GatewayLimits}, {@code InputLimits}, {@code
 * RoutingSettings}, {@code HttpSettings}) are built from its values; their refusals name the
 * variables declared here. TLS, bearer tokens and the connection settings are common's, read by
 * {@code EdgeSecurity} and {@code ServerHost}.
 */
public final class GatewaySettings {
  private GatewaySettings() {}

  // ---- the process
  public static final Setting<String> MODEL = CommonSettings.MODEL;
  public static final Setting<String> VISION_ADDR =
      Setting.string(
              "vision-addr",
              "TANDEM_VISION_ADDR",
              "localhost:50052",
              "vision-svc host:port, or a comma-separated list; a name is looked up again every"
                  + " resolve period and each of its addresses is a replica.")
          .withAliases("vision");
  public static final Setting<String> DECODER_ADDR =
      Setting.string(
              "decoder-addr",
              "TANDEM_DECODER_ADDR",
              "localhost:50053",
              "decoder-svc host:port, or a comma-separated list, as --vision-addr.")
          .withAliases("decoder");
  public static final Setting<Integer> PORT = CommonSettings.port(ServiceDefaults.GATEWAY_PORT);
  public static final Setting<Integer> MAX_MESSAGE_BYTES = CommonSettings.MAX_MESSAGE_BYTES;
  public static final Setting<Integer> METRICS_PORT = CommonSettings.METRICS_PORT;

  /**
   * No default: unset is off for {@code vlm serve gateway} and 8080 for the all-in-one {@code vlm
   * serve}.
   */
  public static final Setting<Integer> HTTP_PORT =
      Setting.integer(
              "http-port",
              "TANDEM_HTTP_PORT",
              null,
              -1,
              65535,
              "HTTP port of the OpenAI-compatible API and the web playground; 0 picks a free one,"
                  + " -1 = off (vlm serve opens 8080 when unset).")
          .withDefaultText("-1");

  // ---- routing over backend replicas
  public static final Setting<Integer> RESOLVE_SECONDS =
      Setting.integer(
          "resolve-seconds",
          "TANDEM_GATEWAY_RESOLVE_SECONDS",
          30,
          1,
          Integer.MAX_VALUE,
          "How often backend names are looked up again (a new pod gets calls after the next lookup)"
              + " and failed replicas retried, seconds; keep it below the connection age.");
  public static final Setting<Double> DECODER_LOAD_FACTOR =
      Setting.decimal(
          "decoder-load-factor",
          "TANDEM_GATEWAY_DECODER_LOAD_FACTOR",
          1.25,
          1,
          Double.POSITIVE_INFINITY,
          "Bounded-load factor of decoder placement: a conversation leaves the replica holding its"
              + " prefix when that replica's load is above this times the mean.");
  public static final Setting<Integer> LOAD_REPORT_SECONDS =
      Setting.integer(
          "load-report-seconds",
          "TANDEM_GATEWAY_LOAD_REPORT_SECONDS",
          10,
          0,
          Integer.MAX_VALUE,
          "Seconds a decoder's load report (its last final message) counts in placement; 0 = only"
              + " the gateway's own calls.");

  // ---- what a request and a client may ask
  public static final Setting<Integer> MAX_PROMPT_TOKENS =
      Setting.integer(
          "max-prompt-tokens",
          "TANDEM_GATEWAY_MAX_PROMPT_TOKENS",
          4096,
          1,
          Integer.MAX_VALUE,
          "Most prompt tokens of one chat after image expansion (text and image tokens);"
              + " INVALID_ARGUMENT above.");
  public static final Setting<Integer> MAX_NEW_TOKENS =
      Setting.integer(
          "max-new-tokens",
          "TANDEM_GATEWAY_MAX_NEW_TOKENS",
          2048,
          1,
          Integer.MAX_VALUE,
          "Largest params.max_new_tokens a client may ask for; INVALID_ARGUMENT above.");

  /**
   * vision-svc's variable: the gateway refuses too many images before any byte goes to vision-svc.
   */
  public static final Setting<Integer> MAX_IMAGES = CommonSettings.MAX_IMAGES;

  public static final Setting<Integer> MAX_STREAMS_PER_CLIENT =
      Setting.integer(
          "max-streams-per-client",
          "TANDEM_GATEWAY_MAX_STREAMS_PER_CLIENT",
          16,
          0,
          Integer.MAX_VALUE,
          "Chat streams one client (its bearer token, else its IP) may have open at once; 0 ="
              + " unlimited.");
  public static final Setting<Double> RATE_PER_SECOND =
      Setting.decimal(
          "rate-per-second",
          "TANDEM_GATEWAY_RATE_PER_SECOND",
          20.0,
          0,
          Double.POSITIVE_INFINITY,
          "Requests per second per client (token-bucket refill, decimals allowed); 0 = no rate"
              + " limit.");
  public static final Setting<Integer> RATE_BURST =
      Setting.integer(
          "rate-burst",
          "TANDEM_GATEWAY_RATE_BURST",
          40,
          0,
          Integer.MAX_VALUE,
          "Token-bucket size: requests a client may send at once after being idle.");
  public static final Setting<Integer> MAX_CONCURRENT_STREAMS =
      Setting.integer(
          "max-concurrent-streams",
          "TANDEM_GATEWAY_MAX_CONCURRENT_STREAMS",
          128,
          0,
          Integer.MAX_VALUE,
          "Chat streams open at once over all clients (gRPC and HTTP); 0 = unlimited.");
  public static final Setting<Integer> BACKEND_DEADLINE_SECONDS =
      Setting.integer(
          "backend-deadline-seconds",
          "TANDEM_GATEWAY_BACKEND_DEADLINE_SECONDS",
          900,
          1,
          Integer.MAX_VALUE,
          "Deadline of the vision-svc and decoder-svc calls of a client that set none, seconds.");
  public static final Setting<Integer> MAX_REQUEST_BYTES =
      Setting.integer(
          "max-request-bytes",
          "TANDEM_GATEWAY_MAX_REQUEST_BYTES",
          32 << 20,
          1,
          Integer.MAX_VALUE,
          "Largest serialized ChatRequest (or HTTP body), bytes: the Chat port's message limit, the"
              + " smaller of this and --max-message-bytes.");
  public static final Setting<Integer> MAX_MESSAGES =
      Setting.integer(
          "max-messages",
          "TANDEM_GATEWAY_MAX_MESSAGES",
          64,
          1,
          Integer.MAX_VALUE,
          "Most messages in one request.");
  public static final Setting<Integer> MAX_PARTS_PER_MESSAGE =
      Setting.integer(
          "max-parts-per-message",
          "TANDEM_GATEWAY_MAX_PARTS_PER_MESSAGE",
          64,
          1,
          Integer.MAX_VALUE,
          "Most content parts in one message.");
  public static final Setting<Integer> MAX_TEXT_BYTES =
      Setting.integer(
          "max-text-bytes",
          "TANDEM_GATEWAY_MAX_TEXT_BYTES",
          256 << 10,
          1,
          Integer.MAX_VALUE,
          "Most UTF-8 bytes of text over a request, checked before anything is tokenized.");
  public static final Setting<Integer> MAX_ID_BYTES =
      Setting.integer(
          "max-id-bytes",
          "TANDEM_GATEWAY_MAX_ID_BYTES",
          128,
          1,
          Integer.MAX_VALUE,
          "Longest request_id and image_id (printable ASCII only).");
  public static final Setting<Integer> MAX_STOP_TOKEN_IDS =
      Setting.integer(
          "max-stop-token-ids",
          "TANDEM_GATEWAY_MAX_STOP_TOKEN_IDS",
          16,
          0,
          Integer.MAX_VALUE,
          "Most params.stop_token_ids.");
  public static final Setting<Integer> MAX_NO_REPEAT_NGRAM_SIZE =
      Setting.integer(
          "max-no-repeat-ngram-size",
          "TANDEM_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE",
          16,
          0,
          Integer.MAX_VALUE,
          "Largest params.no_repeat_ngram_size.");
  public static final Setting<Integer> MAX_STOP_STRINGS =
      Setting.integer(
          "max-stop-strings",
          "TANDEM_GATEWAY_MAX_STOP_STRINGS",
          16,
          0,
          Integer.MAX_VALUE,
          "Most stop strings of one request.");
  public static final Setting<Integer> MAX_STOP_STRING_BYTES =
      Setting.integer(
          "max-stop-string-bytes",
          "TANDEM_GATEWAY_MAX_STOP_STRING_BYTES",
          256,
          1,
          Integer.MAX_VALUE,
          "Longest stop string, UTF-8 bytes (the text held back while a stop string may still"
              + " begin).");

  // ---- the HTTP front door
  public static final Setting<String> HTTP_IMAGE_URL_HOSTS =
      Setting.string(
          "http-image-url-hosts",
          "TANDEM_HTTP_IMAGE_URL_HOSTS",
          "",
          "Hosts whose http(s) image URLs the HTTP API may fetch, comma-separated exact names;"
              + " empty = data: URIs only (the gateway cannot be made to call internal"
              + " addresses).");
  public static final Setting<Integer> HTTP_IMAGE_FETCH_SECONDS =
      Setting.integer(
          "http-image-fetch-seconds",
          "TANDEM_HTTP_IMAGE_FETCH_SECONDS",
          10,
          1,
          Integer.MAX_VALUE,
          "Longest fetch of an allowed image URL (connection and headers), seconds.");
  public static final Setting<Integer> HTTP_KEEPALIVE_SECONDS =
      Setting.integer(
          "http-keepalive-seconds",
          "TANDEM_HTTP_KEEPALIVE_SECONDS",
          2,
          1,
          Integer.MAX_VALUE,
          "Seconds between SSE keep-alive comments while a stream waits (they notice a client that"
              + " went away).");

  /**
   * vision-svc's variable: the HTTP API refuses a larger data: URI or fetched image before
   * vision-svc sees it.
   */
  public static final Setting<Integer> MAX_IMAGE_BYTES = CommonSettings.MAX_IMAGE_BYTES;

  public static final SettingRegistry REGISTRY =
      new SettingRegistry(
          "gateway",
          List.of(
              MODEL,
              VISION_ADDR,
              DECODER_ADDR,
              PORT,
              MAX_MESSAGE_BYTES,
              HTTP_PORT,
              METRICS_PORT,
              RESOLVE_SECONDS,
              DECODER_LOAD_FACTOR,
              LOAD_REPORT_SECONDS,
              MAX_PROMPT_TOKENS,
              MAX_NEW_TOKENS,
              MAX_IMAGES,
              MAX_STREAMS_PER_CLIENT,
              RATE_PER_SECOND,
              RATE_BURST,
              MAX_CONCURRENT_STREAMS,
              BACKEND_DEADLINE_SECONDS,
              MAX_REQUEST_BYTES,
              MAX_MESSAGES,
              MAX_PARTS_PER_MESSAGE,
              MAX_TEXT_BYTES,
              MAX_ID_BYTES,
              MAX_STOP_TOKEN_IDS,
              MAX_NO_REPEAT_NGRAM_SIZE,
              MAX_STOP_STRINGS,
              MAX_STOP_STRING_BYTES,
              HTTP_IMAGE_URL_HOSTS,
              HTTP_IMAGE_FETCH_SECONDS,
              HTTP_KEEPALIVE_SECONDS,
              MAX_IMAGE_BYTES));

  private static final SettingValues DEFAULTS = REGISTRY.resolve(Map.of());

  /** Every setting at its default (the model and the HTTP port unset). */
  public static SettingValues defaults() {
    return DEFAULTS;
  }

  /**
   * The settings from {@code env}'s variables; a malformed one fails naming it and what is allowed.
   */
  public static SettingValues resolve(Env env) {
    return env.read(REGISTRY);
  }
}
