package tandem.gateway.limits;

import static tandem.gateway.config.GatewaySettings.BACKEND_DEADLINE_SECONDS;
import static tandem.gateway.config.GatewaySettings.MAX_CONCURRENT_STREAMS;
import static tandem.gateway.config.GatewaySettings.MAX_IMAGES;
import static tandem.gateway.config.GatewaySettings.MAX_NEW_TOKENS;
import static tandem.gateway.config.GatewaySettings.MAX_PROMPT_TOKENS;
import static tandem.gateway.config.GatewaySettings.MAX_STREAMS_PER_CLIENT;
import static tandem.gateway.config.GatewaySettings.RATE_BURST;
import static tandem.gateway.config.GatewaySettings.RATE_PER_SECOND;

import tandem.common.config.SettingValues;
import tandem.common.error.Rejection;
import tandem.gateway.config.GatewaySettings;

/**
 * What one chat request and one client may ask of the gateway. Every refusal names the limit, its
 * value and the variable that sets it, so a client (or an operator reading logs) knows what to
 * change.
 *
 * @param maxPromptTokens most prompt tokens after image expansion (text + image tokens)
 * @param maxNewTokens largest {@code params.max_new_tokens} a client may ask for
 * @param maxImages most images in one request (checked before any byte goes to vision-svc)
 * @param maxStreamsPerClient Chat streams one client may have open at once; 0 = unlimited
 * @param ratePerSecond requests per second per client (token bucket refill); 0 = no rate limit
 * @param burst bucket size: requests a client may send at once after being idle
 * @param maxConcurrentStreams Chat streams open at once over all clients; 0 = unlimited
 * @param input bounds on the request's shape, checked before any costly step
 * @param backendDeadlineSeconds deadline of backend calls when the client set none
 */
public record GatewayLimits(
    int maxPromptTokens,
    int maxNewTokens,
    int maxImages,
    int maxStreamsPerClient,
    double ratePerSecond,
    int burst,
    int maxConcurrentStreams,
    InputLimits input,
    int backendDeadlineSeconds) {
  // Variable names and defaults: GatewaySettings.

  public GatewayLimits {
    if (maxPromptTokens <= 0
        || maxNewTokens <= 0
        || maxImages < 0
        || maxStreamsPerClient < 0
        || ratePerSecond < 0
        || burst < 0
        || maxConcurrentStreams < 0
        || backendDeadlineSeconds < 1
        || input == null) {
      throw new IllegalArgumentException(
          "gateway limits must be positive (0 disables streams/rate/concurrency): "
              + maxPromptTokens
              + ", "
              + maxNewTokens
              + ", "
              + maxImages
              + ", "
              + maxStreamsPerClient
              + ", "
              + ratePerSecond
              + ", "
              + burst
              + ", "
              + maxConcurrentStreams
              + ", backend deadline "
              + backendDeadlineSeconds
              + " s");
    }
    if (ratePerSecond > 0 && burst < 1)
      throw new IllegalArgumentException("a rate limit needs a burst of at least 1");
  }

  /**
   * The request and per-client limits, with the default global cap, input bounds and backend
   * deadline.
   */
  public GatewayLimits(
      int maxPromptTokens,
      int maxNewTokens,
      int maxImages,
      int maxStreamsPerClient,
      double ratePerSecond,
      int burst) {
    this(
        maxPromptTokens,
        maxNewTokens,
        maxImages,
        maxStreamsPerClient,
        ratePerSecond,
        burst,
        MAX_CONCURRENT_STREAMS.defaultValue(),
        InputLimits.defaults(),
        BACKEND_DEADLINE_SECONDS.defaultValue());
  }

  public static GatewayLimits defaults() {
    return from(GatewaySettings.defaults());
  }

  public static GatewayLimits from(SettingValues v) {
    return new GatewayLimits(
        v.get(MAX_PROMPT_TOKENS),
        v.get(MAX_NEW_TOKENS),
        v.get(MAX_IMAGES),
        v.get(MAX_STREAMS_PER_CLIENT),
        v.get(RATE_PER_SECOND),
        v.get(RATE_BURST),
        v.get(MAX_CONCURRENT_STREAMS),
        InputLimits.from(v),
        v.get(BACKEND_DEADLINE_SECONDS));
  }

  /**
   * No per-client or global stream limits (in-process use such as tests and the offline demo);
   * request limits stay.
   */
  public static GatewayLimits unlimitedClients() {
    GatewayLimits d = defaults();
    return new GatewayLimits(
        d.maxPromptTokens,
        d.maxNewTokens,
        d.maxImages,
        0,
        0,
        0,
        0,
        d.input,
        d.backendDeadlineSeconds);
  }

  public GatewayLimits withInput(InputLimits in) {
    return new GatewayLimits(
        maxPromptTokens,
        maxNewTokens,
        maxImages,
        maxStreamsPerClient,
        ratePerSecond,
        burst,
        maxConcurrentStreams,
        in,
        backendDeadlineSeconds);
  }

  public GatewayLimits withMaxConcurrentStreams(int n) {
    return new GatewayLimits(
        maxPromptTokens,
        maxNewTokens,
        maxImages,
        maxStreamsPerClient,
        ratePerSecond,
        burst,
        n,
        input,
        backendDeadlineSeconds);
  }

  public GatewayLimits withBackendDeadlineSeconds(int s) {
    return new GatewayLimits(
        maxPromptTokens,
        maxNewTokens,
        maxImages,
        maxStreamsPerClient,
        ratePerSecond,
        burst,
        maxConcurrentStreams,
        input,
        s);
  }

  // ---- request checks (pure; called by the chat pipeline)

  /**
   * Before vision-svc is called: too many images is TOO_LARGE (gRPC RESOURCE_EXHAUSTED, HTTP 413).
   */
  public void checkImages(int images) {
    if (images > maxImages) {
      throw exhausted(
          "the request has "
              + images
              + " images; the limit is "
              + maxImages
              + " per request ("
              + MAX_IMAGES.env()
              + "="
              + maxImages
              + ")");
    }
  }

  /**
   * {@code max_new_tokens} when the client set it: below 1 is INVALID (decoder-svc needs at least
   * one; refused here, before any image is encoded), above the cap too.
   */
  public void checkMaxNewTokens(boolean set, int value) {
    if (!set) return;
    if (value < 1)
      throw invalid(
          "params.max_new_tokens = "
              + value
              + " asks for no token; allowed: 1.."
              + maxNewTokens
              + " (leave it unset for the default)");
    if (value > maxNewTokens) {
      throw invalid(
          "params.max_new_tokens = "
              + value
              + " is above the limit "
              + maxNewTokens
              + " ("
              + MAX_NEW_TOKENS.env()
              + "="
              + maxNewTokens
              + "); allowed: 1.."
              + maxNewTokens);
    }
  }

  /**
   * Text tokens counted so far (a lower bound when {@code lowerBound}) against the prompt limit.
   */
  public void checkTextTokens(long tokens, boolean lowerBound) {
    if (tokens > maxPromptTokens) {
      throw invalid(
          "the prompt is "
              + tokens
              + " tokens"
              + (lowerBound ? " or more" : "")
              + " (text alone, counted "
              + "before any image); "
              + InputLimits.limit(maxPromptTokens, MAX_PROMPT_TOKENS.env())
              + " for text and image tokens together; shorten the conversation");
    }
  }

  /** After tokenization and image expansion. */
  public void checkPromptTokens(int tokens) {
    if (tokens > maxPromptTokens) {
      throw invalid(
          "the prompt is "
              + tokens
              + " tokens (text and image tokens); the limit is "
              + maxPromptTokens
              + " ("
              + MAX_PROMPT_TOKENS.env()
              + "="
              + maxPromptTokens
              + "); shorten the conversation or send fewer"
              + " or smaller images");
    }
  }

  static Rejection invalid(String msg) {
    return Rejection.invalid(msg);
  }

  static Rejection exhausted(String msg) {
    return Rejection.tooLarge(msg);
  }
}
