package tandem.gateway.routing;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.EmbedTimings;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * A {@link Channel} to every vision-svc replica that sends each image to its owner: the replica
 * that rendezvous hashing picks for the image's routing key among the replicas that are not down.
 * Each replica keeps its own embedding cache, so a repeated image hits the cache of the one replica
 * that encoded it. An {@code Embed} call with several images is split into one call per owner, run
 * in parallel, and the answers are put back in request order. A part that fails UNAVAILABLE
 * (replica gone or draining), or that a stopping replica cancelled, is sent again to the next
 * replica of each of its images.
 *
 * <p>The routing key is the image's content (SHA-256 of its bytes: the cache keys on the content
 * hash plus vision-svc's own preprocessing settings and model, which are the same on every replica,
 * so the bytes alone decide) or, when the image carries a client {@code image_id}, the client scope
 * plus that id: an id is bound on the replica that first saw it, and every later use of the id must
 * reach the same replica.
 */
public final class VisionRouter extends Channel {
  private static final MethodDescriptor<EmbedRequest, EmbedResponse> EMBED =
      VisionServiceGrpc.getEmbedMethod();
  private static final Pattern IMAGE_INDEX = Pattern.compile("\\bimage (\\d+)\\b");
  private static final Logger LOG = LoggerFactory.getLogger(VisionRouter.class);

  private final EndpointPool pool;

  /** Replicas whose resends are counted before those no longer listed are forgotten. */
  private static final int MAX_COUNTED_REPLICAS = 256;

  /** Images sent again to their next replica after a call on this replica (by id) failed. */
  private final Map<String, AtomicLong> sentAgain = new ConcurrentHashMap<>();

  public VisionRouter(EndpointPool pool) {
    this.pool = pool;
  }

  public EndpointPool pool() {
    return pool;
  }

  /**
   * How many images were sent again to their next replica because a call carrying them to replica
   * {@code endpointId} failed UNAVAILABLE or was cancelled by it. Such a replica may have encoded
   * (and cached) an image whose answer never arrived, so the next replica encodes it a second time.
   * Counts of replicas no longer listed are dropped once more than 256 replicas have had resends.
   */
  public long imagesSentAgain(String endpointId) {
    AtomicLong n = sentAgain.get(endpointId);
    return n == null ? 0 : n.get();
  }

  /** Counts {@code images} sent again after a failed call on replica {@code id}. */
  void countResend(String id, int images) {
    sentAgain.computeIfAbsent(id, k -> new AtomicLong()).addAndGet(images);
    if (sentAgain.size() > MAX_COUNTED_REPLICAS) {
      // replicas come and go (pod addresses): keep the counts of the ones still listed
      Set<String> listed = new HashSet<>();
      for (Endpoint x : pool.endpoints()) listed.add(x.id());
      sentAgain.keySet().retainAll(listed);
    }
  }

  @Override
  public String authority() {
    return pool.target().entries().get(0).authority();
  }

  /** The routing key of one image of a request (see the class comment). */
  public static long routingKey(ImageInput image, String clientScope) {
    if (!image.getImageId().isEmpty()) {
      return new Rendezvous.Hash64()
          .bytes("image_id\0".getBytes(StandardCharsets.UTF_8))
          .bytes(clientScope.getBytes(StandardCharsets.UTF_8))
          .bytes(new byte[] {0})
          .bytes(image.getImageId().getBytes(StandardCharsets.UTF_8))
          .value();
    }
    return contentKey(image.getData());
  }

  /** The first 8 bytes of SHA-256 of the image bytes, the hash vision-svc's cache keys on. */
  public static long contentKey(byte[] data) {
    return contentKey(com.google.protobuf.UnsafeByteOperations.unsafeWrap(data)); // read only
  }

  /**
   * As {@link #contentKey(byte[])}, reading the bytes where they are (no copy of an image per
   * request).
   */
  public static long contentKey(com.google.protobuf.ByteString data) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(data.asReadOnlyByteBuffer());
      byte[] d = md.digest();
      long k = 0;
      for (int i = 0; i < 8; i++) k = (k << 8) | (d[i] & 0xff);
      return k;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options) {
    if (method.getFullMethodName().equals(EMBED.getFullMethodName())) {
      return (ClientCall<ReqT, RespT>) new SplitCall(options, Context.current());
    }
    // nothing else is called on vision-svc today; any replica will do
    List<Endpoint> all = pool.endpoints();
    Endpoint e = Rendezvous.owner(System.nanoTime(), all, Set.of());
    if (e == null) return new FailedCall<>(noEndpoints());
    return e.channel().newCall(method, options);
  }

  private Status noEndpoints() {
    String why = pool.lastProblem();
    return Status.UNAVAILABLE.withDescription(
        "no vision-svc replica is reachable at "
            + pool.target()
            + (why.isEmpty() ? "" : " (" + why + ")"));
  }

  /** One Embed call as the caller sees it; underneath, one unary call per owner. */
  private final class SplitCall extends ClientCall<EmbedRequest, EmbedResponse> {
    private final CallOptions options;
    private final Context context;
    private Listener<EmbedResponse> listener;
    private EmbedRequest request;

    /** Each image's routing key; null while there was only one replica to send to. */
    private long[] keys;

    private ImageEmbedding[] results;
    private double preprocessMs;
    private double encodeMs;
    private double totalMs;
    private String modelId = "";
    private int maxBatchTiles;
    private int outstanding;
    private boolean done;
    private final List<ClientCall<EmbedRequest, EmbedResponse>> calls = new ArrayList<>();

    SplitCall(CallOptions options, Context context) {
      this.options = options;
      this.context = context;
    }

    @Override
    public void start(Listener<EmbedResponse> responseListener, Metadata headers) {
      this.listener = responseListener;
    }

    @Override
    public void request(int numMessages) {}

    @Override
    public void sendMessage(EmbedRequest message) {
      if (request != null) throw new IllegalStateException("Embed is unary: one request message");
      request = message;
    }

    private long key(int image) {
      return keys == null ? 0 : keys[image];
    }

    @Override
    public void halfClose() {
      if (request == null) {
        finish(Status.INTERNAL.withDescription("Embed half-closed without a request"), null);
        return;
      }
      int n = request.getImagesCount();
      if (n == 0) {
        // no owner to choose: let any replica give its own answer to an empty request
        dispatch(List.of(), new HashSet<>());
        return;
      }
      results = new ImageEmbedding[n];
      List<Integer> all = new ArrayList<>();
      for (int i = 0; i < n; i++) all.add(i);
      dispatch(all, new HashSet<>());
    }

    /**
     * Groups the images by owner (skipping replicas that failed this call) and sends one call per
     * group.
     */
    private void dispatch(List<Integer> images, Set<Endpoint> failed) {
      List<Endpoint> endpoints = pool.endpoints();
      if (keys == null && endpoints.size() > 1) {
        // hashed only when there is an owner to choose: with one replica every key picks it
        keys = new long[request.getImagesCount()];
        for (int i = 0; i < keys.length; i++)
          keys[i] = routingKey(request.getImages(i), request.getClientScope());
      }
      Map<Endpoint, List<Integer>> groups = new LinkedHashMap<>();
      if (images.isEmpty()) {
        Endpoint e = Rendezvous.owner(0, endpoints, failed);
        if (e != null) groups.put(e, List.of());
      }
      for (int i : images) {
        Endpoint e = Rendezvous.owner(key(i), endpoints, failed);
        if (e == null) {
          // every replica is down or failed this call: try the owner anyway (it may be back); else
          // give up
          List<Endpoint> remaining = new ArrayList<>(endpoints);
          remaining.removeAll(failed);
          e = remaining.isEmpty() ? null : Rendezvous.rank(key(i), remaining).get(0);
        }
        if (e == null) {
          finish(failed.isEmpty() ? noEndpoints() : lastFailure, null);
          return;
        }
        groups.computeIfAbsent(e, k -> new ArrayList<>()).add(i);
      }
      if (groups.isEmpty()) {
        finish(noEndpoints(), null);
        return;
      }
      synchronized (this) {
        if (done) return;
        outstanding += groups.size();
      }
      for (Map.Entry<Endpoint, List<Integer>> g : groups.entrySet())
        send(g.getKey(), g.getValue(), failed);
    }

    private Status lastFailure =
        Status.UNAVAILABLE.withDescription("no vision-svc replica answered");

    private void send(Endpoint e, List<Integer> images, Set<Endpoint> failed) {
      // one group holding every image (one replica, the usual case) sends the request as it came
      EmbedRequest part;
      if (images.size() == request.getImagesCount()) {
        part = request;
      } else {
        EmbedRequest.Builder b = request.toBuilder().clearImages();
        for (int i : images) b.addImages(request.getImages(i));
        part = b.build();
      }
      ClientCall<EmbedRequest, EmbedResponse> call;
      // the call joins the caller's context (deadline, cancellation, trace) even when sent from a
      // callback
      Context previous = context.attach();
      try {
        call = e.channel().newCall(EMBED, options);
        synchronized (this) {
          if (done) return;
          calls.add(call);
        }
        e.started();
        Futures.addCallback(
            ClientCalls.futureUnaryCall(call, part),
            new FutureCallback<EmbedResponse>() {
              @Override
              public void onSuccess(EmbedResponse r) {
                e.finished();
                partDone(e, images, r);
              }

              @Override
              public void onFailure(Throwable t) {
                e.finished();
                partFailed(e, images, failed, Status.fromThrowable(t));
              }
            },
            MoreExecutors.directExecutor());
      } finally {
        context.detach(previous);
      }
    }

    private void partDone(Endpoint e, List<Integer> images, EmbedResponse r) {
      synchronized (this) {
        if (done) return;
        if (r.getImagesCount() != images.size()) {
          finishLocked(
              Status.INTERNAL.withDescription(
                  "vision-svc "
                      + e.id()
                      + " returned "
                      + r.getImagesCount()
                      + " embeddings for "
                      + images.size()
                      + " images"));
          return;
        }
        for (int k = 0; k < images.size(); k++) results[images.get(k)] = r.getImages(k);
        EmbedTimings t = r.getTimings();
        // the parts ran side by side: the caller waited for the slowest
        preprocessMs = Math.max(preprocessMs, t.getPreprocessMs());
        encodeMs = Math.max(encodeMs, t.getEncodeMs());
        totalMs = Math.max(totalMs, t.getTotalMs());
        maxBatchTiles = Math.max(maxBatchTiles, t.getMaxBatchTiles());
        if (modelId.isEmpty()) modelId = r.getModelId();
        if (results == null) {
          // an empty request: hand the replica's answer through
          deliver(r);
          return;
        }
        if (--outstanding > 0) return;
        EmbedResponse.Builder merged =
            EmbedResponse.newBuilder()
                .setModelId(modelId)
                .setTimings(
                    EmbedTimings.newBuilder()
                        .setPreprocessMs(preprocessMs)
                        .setEncodeMs(encodeMs)
                        .setTotalMs(totalMs)
                        .setMaxBatchTiles(maxBatchTiles));
        long rows = 0;
        for (ImageEmbedding ie : results) {
          merged.addImages(ie);
          rows += ie.getEmbeddings().getShapeCount() > 0 ? ie.getEmbeddings().getShape(0) : 0;
        }
        int budget = request.getMaxImageTokens();
        if (budget > 0 && rows > budget) {
          // each part was checked against the whole budget; together they are over it
          finishLocked(
              Status.INVALID_ARGUMENT.withDescription(
                  "the images need "
                      + rows
                      + " image tokens (over "
                      + calls.size()
                      + " vision-svc replicas) but the caller's budget is "
                      + budget
                      + " (max_image_tokens)"));
          return;
        }
        deliver(merged.build());
      }
    }

    private void partFailed(Endpoint e, List<Integer> images, Set<Endpoint> failed, Status s) {
      boolean retry;
      synchronized (this) {
        if (done) return;
        outstanding--;
        // Embed is idempotent: a replica that went away (UNAVAILABLE) or cancelled the call itself
        // while stopping
        // (CANCELLED with the caller's context still live) is replaced by the images' next replicas
        retry =
            (s.getCode() == Status.Code.UNAVAILABLE || s.getCode() == Status.Code.CANCELLED)
                && !context.isCancelled();
        if (!retry) {
          finishLocked(renumber(s, images));
          return;
        }
        lastFailure = s.withDescription("vision-svc " + e.id() + ": " + s.getDescription());
      }
      countResend(e.id(), images.size());
      LOG.info(
          "vision-svc {}: {} ({}); sending {} image(s) to their next replica",
          e.id(),
          s.getCode(),
          s.getDescription(),
          images.size());
      Set<Endpoint> moreFailed = new HashSet<>(failed);
      moreFailed.add(e);
      dispatch(images, moreFailed);
    }

    /** vision-svc names images by their index in the part it got; put the caller's index back. */
    private Status renumber(Status s, List<Integer> images) {
      if (s.getDescription() == null || images.isEmpty()) return s;
      Matcher m = IMAGE_INDEX.matcher(s.getDescription());
      StringBuilder out = new StringBuilder();
      while (m.find()) {
        int k = Integer.parseInt(m.group(1));
        String to = k < images.size() ? "image " + images.get(k) : m.group();
        m.appendReplacement(out, Matcher.quoteReplacement(to));
      }
      m.appendTail(out);
      return s.withDescription(out.toString());
    }

    private void deliver(EmbedResponse r) {
      done = true;
      listener.onHeaders(new Metadata());
      listener.onMessage(r);
      listener.onClose(Status.OK, new Metadata());
    }

    private synchronized void finish(Status s, Metadata trailers) {
      finishLocked(s);
    }

    private void finishLocked(Status s) {
      if (done) return;
      done = true;
      for (ClientCall<EmbedRequest, EmbedResponse> c : calls)
        c.cancel("another part of the request failed", null);
      listener.onClose(s, new Metadata());
    }

    @Override
    public void cancel(String message, Throwable cause) {
      List<ClientCall<EmbedRequest, EmbedResponse>> toCancel;
      synchronized (this) {
        if (done) return;
        done = true;
        toCancel = new ArrayList<>(calls);
      }
      for (ClientCall<EmbedRequest, EmbedResponse> c : toCancel) c.cancel(message, cause);
      Status s = Status.CANCELLED.withDescription(message);
      if (cause != null) s = s.withCause(cause);
      if (listener != null) listener.onClose(s, new Metadata());
    }
  }

  /** A call that fails as soon as it starts. */
  static final class FailedCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
    private final Status status;

    FailedCall(Status status) {
      this.status = status;
    }

    @Override
    public void start(Listener<RespT> listener, Metadata headers) {
      listener.onClose(status, new Metadata());
    }

    @Override
    public void request(int numMessages) {}

    @Override
    public void cancel(String message, Throwable cause) {}

    @Override
    public void halfClose() {}

    @Override
    public void sendMessage(ReqT message) {}
  }
}
