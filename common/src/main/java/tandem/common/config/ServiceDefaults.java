package tandem.common.config;

/**
 * One source of truth for ports, environment variable names and default limits. The services, the CLI, the Helm
 * chart tests and the docs all read these constants; change a value here and the k8s tests tell you what else must
 * follow. Every service flag has an environment variable of the same meaning; a flag wins over the variable.
 */
public final class ServiceDefaults {
  private ServiceDefaults() {}

  // ---- ports
  /** Public Chat port of the gateway (and of the all-in-one server). */
  public static final int GATEWAY_PORT = 50051;
  /** vision-svc gRPC port. */
  public static final int VISION_PORT = 50052;
  /** decoder-svc gRPC port. */
  public static final int DECODER_PORT = 50053;
  /** Prometheus scrape port (HTTP /metrics), every service. */
  public static final int METRICS_PORT = 9464;
  /**
   * Plaintext health-only port the Helm chart gives a service whose gRPC port serves TLS (TANDEM_HEALTH_PORT; the
   * services' own default is 0, off).
   */
  public static final int HEALTH_PORT = 50050;

  // ---- every service
  /**
   * Checkpoint folder, or a Hugging Face repo id {@code org/name[@revision]}: pass the value through {@code
   * tandem.common.hub.ModelResolver.resolve}, which downloads into the HF cache (HF_TOKEN, HF_ENDPOINT, HF_HOME,
   * HF_HUB_CACHE, HF_HUB_OFFLINE apply; see docs/download.md).
   */
  public static final String ENV_MODEL = "TANDEM_MODEL";
  /** cpu or cuda (cuda falls back to cpu with a warning when no GPU is present). */
  public static final String ENV_DEVICE = "TANDEM_DEVICE";
  /** float32 (default) or float16 (CUDA only). */
  public static final String ENV_DTYPE = "TANDEM_DTYPE";
  /** Port the service listens on. */
  public static final String ENV_PORT = "TANDEM_PORT";
  /** Prometheus port; 0 disables the endpoint. */
  public static final String ENV_METRICS_PORT = "TANDEM_METRICS_PORT";
  /** Largest gRPC message accepted or sent, bytes. */
  public static final String ENV_MAX_MESSAGE_BYTES = "TANDEM_MAX_MESSAGE_BYTES";
  public static final int DEFAULT_MAX_MESSAGE_BYTES = 128 << 20;
  /**
   * Seconds a stopping server lets the streams in flight finish (health NOT_SERVING and new calls UNAVAILABLE
   * meanwhile), then cancels the rest; keep it below Kubernetes' terminationGracePeriodSeconds. Read by the gateway
   * and the all-in-one server ({@code tandem.common.grpc.Draining}).
   */
  public static final String ENV_SHUTDOWN_GRACE_SECONDS = "TANDEM_SHUTDOWN_GRACE_SECONDS";
  public static final int DEFAULT_SHUTDOWN_GRACE_SECONDS = 25;

  /**
   * Port of a second, plaintext server that answers grpc.health.v1 and nothing else, from the same statuses; 0 (the
   * default) = none. For Kubernetes' native gRPC probes, which cannot speak TLS.
   */
  public static final String ENV_HEALTH_PORT = "TANDEM_HEALTH_PORT";

  // ---- connections, every network server (tandem.common.grpc.ServerBootstrap.applyConnectionLimits)
  /** Seconds without traffic before a server pings a client to see that the connection is alive. */
  public static final String ENV_KEEPALIVE_SECONDS = "TANDEM_KEEPALIVE_SECONDS";
  public static final int DEFAULT_KEEPALIVE_SECONDS = 60;
  /** Seconds a server waits for the answer to its keepalive ping before it closes the connection. */
  public static final String ENV_KEEPALIVE_TIMEOUT_SECONDS = "TANDEM_KEEPALIVE_TIMEOUT_SECONDS";
  public static final int DEFAULT_KEEPALIVE_TIMEOUT_SECONDS = 20;
  /**
   * Most seconds a connection lives; then the server asks the client to reconnect (GOAWAY), which spreads clients
   * over new replicas: a client that resolves the Service again on reconnect reaches a pod added meanwhile within
   * this age. 0 = forever.
   */
  public static final String ENV_MAX_CONNECTION_AGE_SECONDS = "TANDEM_MAX_CONNECTION_AGE_SECONDS";
  public static final int DEFAULT_MAX_CONNECTION_AGE_SECONDS = 300;
  /** Seconds the calls of a connection past its age may still run before the connection is closed. */
  public static final String ENV_MAX_CONNECTION_AGE_GRACE_SECONDS = "TANDEM_MAX_CONNECTION_AGE_GRACE_SECONDS";
  public static final int DEFAULT_MAX_CONNECTION_AGE_GRACE_SECONDS = 900;
  /**
   * Concurrent calls (streams) one connection may have open; more wait for one to end (HTTP/2 flow control). Above
   * the gateway's global stream cap: the gateway multiplexes all its calls to one backend pod over one connection.
   */
  public static final String ENV_MAX_STREAMS_PER_CONNECTION = "TANDEM_MAX_STREAMS_PER_CONNECTION";
  public static final int DEFAULT_MAX_STREAMS_PER_CONNECTION = 256;

  // ---- TLS and auth (docs/security.md); all off when unset, the localhost default
  /**
   * PEM certificate chain of the service port (the gateway's public port, vision-svc, decoder-svc, the all-in-one
   * public port); with {@link #ENV_TLS_KEY} it turns TLS on.
   */
  public static final String ENV_TLS_CERT = "TANDEM_TLS_CERT";
  /** PKCS#8 PEM private key of {@link #ENV_TLS_CERT}. */
  public static final String ENV_TLS_KEY = "TANDEM_TLS_KEY";
  /** PEM CA bundle that client certificates must chain to (mTLS); see {@link #ENV_TLS_CLIENT_AUTH}. */
  public static final String ENV_TLS_CLIENT_CA = "TANDEM_TLS_CLIENT_CA";
  /**
   * none, optional (verified when presented; the default when a client CA is set) or require (the gateway answers
   * Chat without one UNAUTHENTICATED; vision-svc and decoder-svc refuse the handshake).
   */
  public static final String ENV_TLS_CLIENT_AUTH = "TANDEM_TLS_CLIENT_AUTH";
  /** How often certificate, key and CA files are checked for changes (loaded without a restart), seconds. */
  public static final String ENV_TLS_RELOAD_SECONDS = "TANDEM_TLS_RELOAD_SECONDS";
  public static final int DEFAULT_TLS_RELOAD_SECONDS = 60;
  /** Gateway → vision-svc/decoder-svc: PEM CA of the services' certificates; set to dial them over TLS. */
  public static final String ENV_BACKEND_TLS_CA = "TANDEM_BACKEND_TLS_CA";
  /** Gateway → backends: the client certificate the gateway presents (mTLS), PEM. */
  public static final String ENV_BACKEND_TLS_CERT = "TANDEM_BACKEND_TLS_CERT";
  /** Gateway → backends: PKCS#8 PEM key of {@link #ENV_BACKEND_TLS_CERT}. */
  public static final String ENV_BACKEND_TLS_KEY = "TANDEM_BACKEND_TLS_KEY";
  /**
   * vision-svc/decoder-svc with mTLS: comma-separated names (DNS SAN or subject CN) a client certificate must carry;
   * a caller whose certificate names none of them gets PERMISSION_DENIED. Empty (the default) = any certificate from
   * the client CA.
   */
  public static final String ENV_TLS_ALLOWED_PEERS = "TANDEM_TLS_ALLOWED_PEERS";
  /**
   * File of bearer tokens Chat accepts, one per line ({@code #} comments), re-read when it changes (a mounted
   * Kubernetes Secret).
   */
  public static final String ENV_AUTH_TOKENS_FILE = "TANDEM_AUTH_TOKENS_FILE";
  /** Comma-separated bearer tokens (tests, simple setups; the Helm chart uses the file, never this). */
  public static final String ENV_AUTH_TOKENS = "TANDEM_AUTH_TOKENS";
  /**
   * Client side ({@code vlm chat}, {@code vlm bench … --server}): the bearer token to send when {@code --token} is
   * not given, so it stays out of shell history and process listings.
   */
  public static final String ENV_CLIENT_TOKEN = "TANDEM_CLIENT_TOKEN";

  // ---- decoder-svc
  /** Sequences decoded together in one batched step (also the number of KV cache slots). */
  public static final String ENV_DECODER_MAX_BATCH = "TANDEM_DECODER_MAX_BATCH";
  public static final int DEFAULT_DECODER_MAX_BATCH = 8;
  /** KV cache capacity per sequence, tokens (prompt + generated). */
  public static final String ENV_DECODER_MAX_SEQ_LEN = "TANDEM_DECODER_MAX_SEQ_LEN";
  public static final int DEFAULT_DECODER_MAX_SEQ_LEN = 4096;
  /** Requests waiting for a free slot before new ones get RESOURCE_EXHAUSTED. */
  public static final String ENV_DECODER_MAX_QUEUE = "TANDEM_DECODER_MAX_QUEUE";
  public static final int DEFAULT_DECODER_MAX_QUEUE = 64;
  /**
   * Rows per scheduler step (chunked prefill, flag {@code --prefill-chunk-tokens}): each step runs one row for every
   * decoding stream and gives pending prompts the rest of this many rows, so a long prompt does not stall the running
   * streams.
   */
  public static final String ENV_DECODER_PREFILL_TOKENS = "TANDEM_DECODER_PREFILL_TOKENS";
  public static final int DEFAULT_DECODER_PREFILL_TOKENS = 24;
  /**
   * KV cache budget, bytes: the paged cache's block pool never grows past it (0 = the default, {@link
   * #DEFAULT_DECODER_KV_CACHE_BYTES}, on the CPU). libtorch (CUDA) still reserves max batch x max sequence length.
   */
  public static final String ENV_DECODER_KV_CACHE_BYTES = "TANDEM_DECODER_KV_CACHE_BYTES";
  public static final long DEFAULT_DECODER_KV_CACHE_BYTES = 512L << 20;
  /** Storage type of the paged KV cache: {@code bf16} (half the bytes per token) or {@code f32}. */
  public static final String ENV_DECODER_KV_CACHE_DTYPE = "TANDEM_DECODER_KV_CACHE_DTYPE";
  public static final String DEFAULT_DECODER_KV_CACHE_DTYPE = "bf16";
  /** Whether full KV blocks are kept and reused by later requests with the same prefix (true/false). */
  public static final String ENV_DECODER_PREFIX_CACHE = "TANDEM_DECODER_PREFIX_CACHE";
  public static final boolean DEFAULT_DECODER_PREFIX_CACHE = true;
  /**
   * libtorch intra-op threads of the decoder (process-wide); 0 keeps libtorch's default (the number of cores). One
   * thread is much faster on a CPU shared with other work (every small op of a step pays a pool barrier).
   */
  public static final String ENV_DECODER_THREADS = "TANDEM_DECODER_THREADS";
  public static final int DEFAULT_DECODER_THREADS = 0;
  /**
   * Weight format of the CPU decoder: {@code auto} (the checkpoint's: bf16 for a bf16 checkpoint, else f32),
   * {@code bf16}, {@code q8_0} (int8 blocks, an approximation) or {@code f32}. libtorch (CUDA) uses TANDEM_DTYPE.
   */
  public static final String ENV_DECODER_WEIGHTS = "TANDEM_DECODER_WEIGHTS";
  public static final String DEFAULT_DECODER_WEIGHTS = "auto";

  // ---- vision-svc
  /** Most tiles encoded in one forward pass. */
  public static final String ENV_VISION_MAX_BATCH_TILES = "TANDEM_VISION_MAX_BATCH_TILES";
  public static final int DEFAULT_VISION_MAX_BATCH_TILES = 8;
  /** How long the batcher waits for more tiles before running a partial batch, milliseconds. */
  public static final String ENV_VISION_BATCH_WAIT_MS = "TANDEM_VISION_BATCH_WAIT_MS";
  public static final int DEFAULT_VISION_BATCH_WAIT_MS = 2;
  /** Embedding cache bound, bytes (0 disables the cache). */
  public static final String ENV_VISION_CACHE_BYTES = "TANDEM_VISION_CACHE_BYTES";
  public static final long DEFAULT_VISION_CACHE_BYTES = 512L << 20;
  /** Largest encoded image, bytes. */
  public static final String ENV_VISION_MAX_IMAGE_BYTES = "TANDEM_VISION_MAX_IMAGE_BYTES";
  public static final int DEFAULT_VISION_MAX_IMAGE_BYTES = 20 << 20;
  /** Largest decoded image, pixels (width x height), checked from the header before decoding. */
  public static final String ENV_VISION_MAX_IMAGE_PIXELS = "TANDEM_VISION_MAX_IMAGE_PIXELS";
  public static final long DEFAULT_VISION_MAX_IMAGE_PIXELS = 50_000_000L;
  /** Most images in one request. */
  public static final String ENV_VISION_MAX_IMAGES = "TANDEM_VISION_MAX_IMAGES";
  public static final int DEFAULT_VISION_MAX_IMAGES = 16;
  /**
   * Longest an Embed call waits for its images to be encoded when the caller set no deadline, seconds; then
   * DEADLINE_EXCEEDED (the caller's own deadline applies when it set one).
   */
  public static final String ENV_VISION_MAX_WAIT_SECONDS = "TANDEM_VISION_MAX_WAIT_SECONDS";
  public static final int DEFAULT_VISION_MAX_WAIT_SECONDS = 900;

  // ---- gateway
  /**
   * Address of vision-svc: {@code host:port}, or a comma-separated list of them; a name that resolves to several
   * addresses (a headless Service) is one replica per address. Unused by the all-in-one server.
   */
  public static final String ENV_VISION_ADDR = "TANDEM_VISION_ADDR";
  /** Address of decoder-svc, as {@link #ENV_VISION_ADDR}. */
  public static final String ENV_DECODER_ADDR = "TANDEM_DECODER_ADDR";
  /**
   * How often the gateway looks its backend names up again (a new pod of a headless Service gets calls after the
   * next lookup) and retries replicas that failed, seconds (>= 1). Keep it below the connection age.
   */
  public static final String ENV_GATEWAY_RESOLVE_SECONDS = "TANDEM_GATEWAY_RESOLVE_SECONDS";
  public static final int DEFAULT_GATEWAY_RESOLVE_SECONDS = 30;
  /**
   * Bounded-load factor of decoder placement (>= 1): a conversation leaves the replica that holds its prefix when
   * that replica's load is above this times the mean.
   */
  public static final String ENV_GATEWAY_DECODER_LOAD_FACTOR = "TANDEM_GATEWAY_DECODER_LOAD_FACTOR";
  public static final String DEFAULT_GATEWAY_DECODER_LOAD_FACTOR = "1.25";
  /** Seconds a decoder's load report (its last final message) counts in placement; 0 = only the gateway's own calls. */
  public static final String ENV_GATEWAY_LOAD_REPORT_SECONDS = "TANDEM_GATEWAY_LOAD_REPORT_SECONDS";
  public static final int DEFAULT_GATEWAY_LOAD_REPORT_SECONDS = 10;
  /** Most prompt tokens of one chat after image expansion (text + image tokens); INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_PROMPT_TOKENS = "TANDEM_GATEWAY_MAX_PROMPT_TOKENS";
  public static final int DEFAULT_GATEWAY_MAX_PROMPT_TOKENS = DEFAULT_DECODER_MAX_SEQ_LEN;
  /** Largest {@code params.max_new_tokens} a client may ask for; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_NEW_TOKENS = "TANDEM_GATEWAY_MAX_NEW_TOKENS";
  public static final int DEFAULT_GATEWAY_MAX_NEW_TOKENS = 2048;
  /**
   * Chat streams one client may have open at once (0 = unlimited); RESOURCE_EXHAUSTED above. A client is its bearer
   * token when it sends one, else its peer IP.
   */
  public static final String ENV_GATEWAY_MAX_STREAMS_PER_CLIENT = "TANDEM_GATEWAY_MAX_STREAMS_PER_CLIENT";
  public static final int DEFAULT_GATEWAY_MAX_STREAMS_PER_CLIENT = 16;
  /** Token-bucket refill per client, requests per second (decimals allowed; 0 = no rate limit). */
  public static final String ENV_GATEWAY_RATE_PER_SECOND = "TANDEM_GATEWAY_RATE_PER_SECOND";
  public static final int DEFAULT_GATEWAY_RATE_PER_SECOND = 20;
  /** Token-bucket size: requests a client may send at once after being idle. */
  public static final String ENV_GATEWAY_RATE_BURST = "TANDEM_GATEWAY_RATE_BURST";
  public static final int DEFAULT_GATEWAY_RATE_BURST = 40;
  /** Chat streams open at once over all clients (0 = unlimited); RESOURCE_EXHAUSTED above. */
  public static final String ENV_GATEWAY_MAX_CONCURRENT_STREAMS = "TANDEM_GATEWAY_MAX_CONCURRENT_STREAMS";
  public static final int DEFAULT_GATEWAY_MAX_CONCURRENT_STREAMS = 128;
  /**
   * Largest serialized ChatRequest, bytes: the public port's gRPC message limit (RESOURCE_EXHAUSTED before the
   * request is parsed); the smaller of this and TANDEM_MAX_MESSAGE_BYTES applies.
   */
  public static final String ENV_GATEWAY_MAX_REQUEST_BYTES = "TANDEM_GATEWAY_MAX_REQUEST_BYTES";
  public static final int DEFAULT_GATEWAY_MAX_REQUEST_BYTES = 32 << 20;
  /** Most messages in one ChatRequest; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_MESSAGES = "TANDEM_GATEWAY_MAX_MESSAGES";
  public static final int DEFAULT_GATEWAY_MAX_MESSAGES = 64;
  /** Most content parts in one message; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_PARTS_PER_MESSAGE = "TANDEM_GATEWAY_MAX_PARTS_PER_MESSAGE";
  public static final int DEFAULT_GATEWAY_MAX_PARTS_PER_MESSAGE = 64;
  /** Most UTF-8 bytes of text over all parts of a request, checked before anything is tokenized; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_TEXT_BYTES = "TANDEM_GATEWAY_MAX_TEXT_BYTES";
  public static final int DEFAULT_GATEWAY_MAX_TEXT_BYTES = 256 << 10;
  /** Longest request_id and image_id, bytes (printable ASCII only); INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_ID_BYTES = "TANDEM_GATEWAY_MAX_ID_BYTES";
  public static final int DEFAULT_GATEWAY_MAX_ID_BYTES = 128;
  /** Most params.stop_token_ids; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_STOP_TOKEN_IDS = "TANDEM_GATEWAY_MAX_STOP_TOKEN_IDS";
  public static final int DEFAULT_GATEWAY_MAX_STOP_TOKEN_IDS = 16;
  /** Largest params.no_repeat_ngram_size; INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE = "TANDEM_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE";
  public static final int DEFAULT_GATEWAY_MAX_NO_REPEAT_NGRAM_SIZE = 16;
  /**
   * Deadline the gateway puts on its vision-svc and decoder-svc calls when the client set none, seconds;
   * DEADLINE_EXCEEDED when it passes.
   */
  public static final String ENV_GATEWAY_BACKEND_DEADLINE_SECONDS = "TANDEM_GATEWAY_BACKEND_DEADLINE_SECONDS";
  public static final int DEFAULT_GATEWAY_BACKEND_DEADLINE_SECONDS = 900;
  /** Most stop strings of one request (gRPC {@code stop}, OpenAI {@code stop}); INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_STOP_STRINGS = "TANDEM_GATEWAY_MAX_STOP_STRINGS";
  public static final int DEFAULT_GATEWAY_MAX_STOP_STRINGS = 16;
  /** Longest stop string, UTF-8 bytes (held-back text is at most this long); INVALID_ARGUMENT above. */
  public static final String ENV_GATEWAY_MAX_STOP_STRING_BYTES = "TANDEM_GATEWAY_MAX_STOP_STRING_BYTES";
  public static final int DEFAULT_GATEWAY_MAX_STOP_STRING_BYTES = 256;

  // ---- gateway HTTP (OpenAI-compatible API and web playground)
  /**
   * Port of the gateway's HTTP server ({@code /v1/chat/completions}, {@code /v1/models}, the playground at {@code /});
   * 0 picks a free one, -1 = off. The all-in-one server opens {@link #HTTP_PORT} unless told otherwise; a split
   * gateway only when this is set (the Helm chart sets it from {@code gateway.http.port}).
   */
  public static final String ENV_HTTP_PORT = "TANDEM_HTTP_PORT";
  /** The HTTP port of the all-in-one server and of the chart's gateway. */
  public static final int HTTP_PORT = 8080;
  /**
   * Hosts whose http(s) image URLs the HTTP API may fetch, comma-separated (exact host names, no wildcards); empty =
   * only data: URIs (an http(s) URL is refused, so the gateway cannot be made to call internal addresses).
   */
  public static final String ENV_HTTP_IMAGE_URL_HOSTS = "TANDEM_HTTP_IMAGE_URL_HOSTS";
  public static final String DEFAULT_HTTP_IMAGE_URL_HOSTS = "";
  /** Longest fetch of an allowed image URL, seconds (connect and body); the body is capped at TANDEM_VISION_MAX_IMAGE_BYTES. */
  public static final String ENV_HTTP_IMAGE_FETCH_SECONDS = "TANDEM_HTTP_IMAGE_FETCH_SECONDS";
  public static final int DEFAULT_HTTP_IMAGE_FETCH_SECONDS = 10;
  /** Seconds between SSE keep-alive comments while a stream waits (they also notice a client that went away). */
  public static final String ENV_HTTP_KEEPALIVE_SECONDS = "TANDEM_HTTP_KEEPALIVE_SECONDS";
  public static final int DEFAULT_HTTP_KEEPALIVE_SECONDS = 2;
}
