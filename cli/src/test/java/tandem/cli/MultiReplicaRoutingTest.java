package tandem.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.config.CommonSettings;
import tandem.common.config.Env;
import tandem.common.grpc.ServerBootstrap;
import tandem.common.grpc.ServerHost;
import tandem.common.telemetry.Telemetry;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.DecoderSettings;
import tandem.gateway.GatewayServer;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.routing.Rendezvous;
import tandem.gateway.routing.VisionRouter;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.gateway.v1.ChatChunk;
import tandem.proto.gateway.v1.ChatFinal;
import tandem.proto.gateway.v1.ChatMessage;
import tandem.proto.gateway.v1.ChatRequest;
import tandem.proto.gateway.v1.ChatServiceGrpc;
import tandem.proto.gateway.v1.ContentPart;
import tandem.proto.gateway.v1.ImagePart;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.ImageInput;
import tandem.vision.VisionServer;
import tandem.vision.VisionServerConfig;

/**
 * Three vision-svc, two decoder-svc and a gateway with static address lists, all on loopback with
 * the tiny checkpoint and a short connection age: images reach the replica that owns them (the
 * cache hit rate of one replica), a stopped replica costs only its own images, a replica that
 * starts late gets calls within one connection age, and the turns of a conversation stay on one
 * decoder, whose prefix cache then serves their shared beginning.
 */
class MultiReplicaRoutingTest {
  /**
   * Short on purpose: connections are recycled several times while the test runs, which must not
   * move any image, and the fourth replica must get calls within this age. The grace is long: it
   * only bounds how long a call on a recycled connection may still run, and a short one would cut
   * slow chats on a busy machine.
   */
  static final int AGE_SECONDS = 5;

  static final int AGE_GRACE_SECONDS = 60;
  static final ServerBootstrap.ConnectionLimits LIMITS =
      new ServerBootstrap.ConnectionLimits(60, 20, AGE_SECONDS, AGE_GRACE_SECONDS, 256);

  final List<AutoCloseable> closeLast = new ArrayList<>();
  final List<VisionServer> visions = new ArrayList<>();
  final Set<VisionServer> stopped = new HashSet<>();
  final List<Recorder> visionCalls = new ArrayList<>();
  final List<Recorder> decoderCalls = new ArrayList<>();
  GatewayServer gateway;
  ManagedChannel client;

  /** Records the request message of every call a server receives (Embed or Generate). */
  static final class Recorder implements ServerInterceptor {
    final List<Object> requests = new CopyOnWriteArrayList<>();

    /**
     * What each call was (the chat under way when it came, its images' keys) and how it ended, for
     * the messages of failed assertions.
     */
    final List<String> log = new CopyOnWriteArrayList<>();

    /** The chat the test is running (chats run one at a time), to label the calls it causes. */
    static volatile String currentChat = "";

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
      String chat = currentChat;
      return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
          next.startCall(call, headers)) {
        @Override
        public void onMessage(Q message) {
          if (message instanceof EmbedRequest || message instanceof GenerateRequest)
            requests.add(message);
          if (message instanceof EmbedRequest r) {
            List<String> keys = new ArrayList<>();
            for (ImageInput in : r.getImagesList())
              keys.add(
                  Long.toHexString(VisionRouter.contentKey(in.getData().toByteArray()))
                      .substring(0, 6));
            log.add(chat + " embed " + keys);
          }
          super.onMessage(message);
        }

        @Override
        public void onCancel() {
          log.add(chat + " cancelled");
          super.onCancel();
        }
      };
    }

    /** The content keys of the images this vision replica was sent. */
    Set<Long> imageKeys() {
      Set<Long> out = new HashSet<>();
      for (Object o : requests) {
        if (o instanceof EmbedRequest r) {
          for (ImageInput in : r.getImagesList())
            out.add(VisionRouter.contentKey(in.getData().toByteArray()));
        }
      }
      return out;
    }

    Set<String> requestIds() {
      Set<String> out = new HashSet<>();
      for (Object o : requests) if (o instanceof GenerateRequest r) out.add(r.getRequestId());
      return out;
    }
  }

  static Env env(Map<String, String> m) {
    Map<String, String> all = new HashMap<>(m);
    all.put(CommonSettings.MODEL.env(), TinyCheckpoints.vlmTiny().toString());
    all.put(GatewaySettings.PORT.env(), "0");
    all.put(CommonSettings.MAX_CONNECTION_AGE_SECONDS.env(), "" + AGE_SECONDS);
    all.put(CommonSettings.MAX_CONNECTION_AGE_GRACE_SECONDS.env(), "" + AGE_GRACE_SECONDS);
    return new Env(all);
  }

  VisionServer startVision(int port, Recorder recorder) throws Exception {
    ServerBuilder<?> b =
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).intercept(recorder);
    VisionServer v =
        VisionServer.start(
            VisionServerConfig.fromEnv(env(Map.of())),
            tandem.common.grpc.ServerHost.inProcess(
                ServerBootstrap.withConnectionLimits(b, LIMITS)));
    visions.add(v);
    visionCalls.add(recorder);
    return v;
  }

  static byte[] png(int seed) throws Exception {
    BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    java.util.Random rnd = new java.util.Random(seed);
    g.setColor(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)));
    g.fillRect(0, 0, 40, 30);
    g.setColor(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)));
    g.fillOval(rnd.nextInt(20), rnd.nextInt(15), 15, 12);
    g.dispose();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }

  static long misses(VisionServer v) {
    return v.embedder().cache().stats().misses();
  }

  /**
   * Images the gateway sent again to their next replica after a failed call on one of the first
   * three replicas other than {@code except}.
   */
  long sentAgain(List<String> visionAddrs, int except) {
    long n = 0;
    for (int i = 0; i < 3; i++)
      if (i != except) n += gateway.routing().vision().imagesSentAgain(visionAddrs.get(i));
    return n;
  }

  /** Each original replica's cache counts and calls, for the message of a failed assertion. */
  String replicaReport(long[] missesBefore, int stopped, Set<Long> orphans) {
    StringBuilder b = new StringBuilder("stopped replica ").append(stopped).append(", orphans [");
    for (long k : orphans) b.append(Long.toHexString(k), 0, 6).append(' ');
    b.append("]");
    for (int i = 0; i < 3; i++) {
      b.append("\nreplica ").append(i).append(": misses before the stop ").append(missesBefore[i]);
      b.append(", now ").append(visions.get(i).embedder().cache().stats());
      b.append(", calls ").append(visionCalls.get(i).log);
    }
    return b.toString();
  }

  /** Chats started, for waiting until one is under way. */
  final java.util.concurrent.atomic.AtomicInteger chats =
      new java.util.concurrent.atomic.AtomicInteger();

  ChatFinal chat(String requestId, List<ChatMessage> messages) {
    Recorder.currentChat = requestId;
    chats.incrementAndGet();
    Iterator<ChatChunk> it =
        ChatServiceGrpc.newBlockingStub(client)
            .withDeadlineAfter(120, TimeUnit.SECONDS)
            .chat(
                ChatRequest.newBuilder()
                    .setRequestId(requestId)
                    .addAllMessages(messages)
                    .setParams(GenerationParams.newBuilder().setMaxNewTokens(2).setTemperature(0))
                    .build());
    ChatFinal fin = null;
    while (it.hasNext()) {
      ChatChunk c = it.next();
      if (c.hasFinal()) fin = c.getFinal();
    }
    assertNotNull(fin, requestId + ": no final chunk");
    assertTrue(
        fin.getFinishReason() == FinishReason.FINISH_REASON_STOP
            || fin.getFinishReason() == FinishReason.FINISH_REASON_LENGTH,
        requestId + ": " + fin);
    return fin;
  }

  static ChatMessage user(String text, byte[] image) {
    ChatMessage.Builder m = ChatMessage.newBuilder().setRole("user");
    if (image != null)
      m.addContent(
          ContentPart.newBuilder()
              .setImage(ImagePart.newBuilder().setData(ByteString.copyFrom(image))));
    return m.addContent(ContentPart.newBuilder().setText(text)).build();
  }

  static ChatMessage message(String role, String text) {
    return ChatMessage.newBuilder()
        .setRole(role)
        .addContent(ContentPart.newBuilder().setText(text))
        .build();
  }

  /**
   * One round: each image {@code perImage} times, interleaved; returns how many chats reported a
   * vision miss.
   */
  int round(String name, List<byte[]> images, int perImage) {
    int missed = 0;
    for (int k = 0; k < perImage; k++) {
      for (int i = 0; i < images.size(); i++) {
        ChatFinal f = chat(name + "-" + k + "-" + i, List.of(user("What is this?", images.get(i))));
        if (!f.getTimings().getVisionCacheHit()) missed++;
      }
    }
    return missed;
  }

  @AfterEach
  void stop() throws Exception {
    if (client != null) client.shutdownNow();
    if (gateway != null) gateway.close();
    for (VisionServer v : visions) if (stopped.add(v)) v.close(Duration.ZERO);
    for (AutoCloseable c : closeLast) c.close();
  }

  @Test
  void imagesStayWithTheirOwnerThroughAStopAndAnAdditionAndConversationsStayOnOneDecoder()
      throws Exception {
    for (int i = 0; i < 3; i++) startVision(0, new Recorder());
    int fourthPort =
        tandem.common.testing.TlsTestEnv
            .freePort(); // listed from the start, started later: a replica that joins
    List<String> visionAddrs = new ArrayList<>();
    for (VisionServer v : visions) visionAddrs.add("127.0.0.1:" + v.port());
    visionAddrs.add("127.0.0.1:" + fourthPort);
    List<String> decoderAddrs = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      Recorder r = new Recorder();
      DecoderServerConfig dc =
          DecoderServerConfig.from(
              DecoderSettings.REGISTRY.resolve(
                  Map.of(
                      CommonSettings.MODEL.env(),
                      TinyCheckpoints.vlmTiny().toString(),
                      DecoderSettings.MAX_BATCH.env(),
                      "2",
                      DecoderSettings.MAX_SEQ_LEN.env(),
                      "2048")));
      DecoderServer d =
          DecoderServer.start(
              dc,
              ServerHost.internal(0, env(Map.of()), Telemetry.noop()).withInterceptors(List.of(r)));
      closeLast.add(d);
      decoderCalls.add(r);
      decoderAddrs.add("127.0.0.1:" + d.port());
    }
    Env gatewayEnv =
        env(
            Map.of(
                GatewaySettings.RESOLVE_SECONDS.env(),
                "1",
                GatewaySettings.RATE_PER_SECOND.env(),
                "0",
                GatewaySettings.MAX_STREAMS_PER_CLIENT.env(),
                "0"));
    GatewayServer.Config gatewayConfig =
        GatewayServer.Config.fromEnv(gatewayEnv) // the model, port 0, the limits
            .withBackends(String.join(",", visionAddrs), String.join(",", decoderAddrs));
    gateway =
        GatewayServer.start(
            gatewayConfig, GatewayServer.publicHost(0, gatewayEnv, Telemetry.noop()), gatewayEnv);
    client =
        Grpc.newChannelBuilder("127.0.0.1:" + gateway.port(), InsecureChannelCredentials.create())
            .build();

    List<byte[]> images = new ArrayList<>();
    for (int i = 0; i < 5; i++) images.add(png(i));

    // 1. 20 chats over 5 images: one miss per image, whichever replica owns it (round robin would
    // miss up to 15)
    int missedChats = round("first", images, 4);
    long misses = 0;
    for (VisionServer v : visions) misses += misses(v);
    assertEquals(5, misses, "vision-svc cache misses over the 3 replicas");
    assertEquals(5, missedChats, "chats that reported a vision cache miss");
    Set<Long> seen = new HashSet<>();
    List<Set<Long>> owned = new ArrayList<>();
    int owner = 0;
    for (int i = 0; i < 3; i++) {
      Set<Long> keys = visionCalls.get(i).imageKeys();
      owned.add(keys);
      for (long k : keys) assertTrue(seen.add(k), "an image went to two replicas");
      if (keys.size() > visionCalls.get(owner).imageKeys().size()) owner = i;
    }
    assertEquals(5, seen.size());
    Set<Long> orphans = visionCalls.get(owner).imageKeys();
    assertTrue(orphans.size() >= 2, "5 images over 3 replicas: one owns at least 2");

    // 2. Stop the replica that owns the most images half way through a round: every chat still
    // succeeds, and only
    // its images miss (once each, on their runner-up)
    long[] before = new long[3];
    for (int i = 0; i < 3; i++) before[i] = misses(visions.get(i));
    long resentBefore = sentAgain(visionAddrs, owner);
    assertEquals(0, round("second-a", images, 2), "all 5 images are cached on their owners");
    // the stop comes while another thread runs chats (calls on the stopped replica may be in
    // flight), with no grace
    ExecutorService background = Executors.newSingleThreadExecutor();
    int started0 = chats.get();
    Future<Integer> during = background.submit(() -> round("during", images, 2));
    long wait = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (chats.get() == started0 && System.nanoTime() < wait) Thread.sleep(1);
    stopped.add(visions.get(owner));
    visions.get(owner).close(Duration.ZERO);
    int secondRoundMisses = during.get(120, TimeUnit.SECONDS);
    background.shutdown();
    secondRoundMisses += round("second-b", images, 2);
    // A call on a remaining replica that fails UNAVAILABLE (a connection recycled under it) is sent
    // again to the next replica of its images, by design: that replica may have encoded the image
    // already, and the next one encodes it too. Such resends are counted by the gateway's router;
    // without them (the usual run) every count below is exact.
    long resent = sentAgain(visionAddrs, owner) - resentBefore;
    assertTrue(
        secondRoundMisses >= orphans.size() && secondRoundMisses <= orphans.size() + resent,
        "only the stopped replica's images miss again, once each: "
            + secondRoundMisses
            + " chats missed for "
            + orphans.size()
            + " images (images sent again after a failed call on a remaining replica: "
            + resent
            + ")");
    long newMisses = 0;
    for (int i = 0; i < 3; i++) if (i != owner) newMisses += misses(visions.get(i)) - before[i];
    long after = newMisses;
    int stoppedOwner = owner;
    assertTrue(
        after >= orphans.size() && after <= orphans.size() + resent,
        () ->
            "new misses on the remaining replicas: "
                + after
                + " for "
                + orphans.size()
                + " images moved, "
                + resent
                + " sent again after a failed call; "
                + replicaReport(before, stoppedOwner, orphans));
    for (int i = 0; i < 3; i++) {
      if (i == owner) continue;
      Set<Long> got = visionCalls.get(i).imageKeys();
      got.removeAll(orphans);
      got.removeAll(owned.get(i));
      assertTrue(
          got.size() <= resent,
          "replica "
              + i
              + " got only its own images and the stopped one's (others: "
              + got.size()
              + ", images sent again after a failed call: "
              + resent
              + ")");
    }

    // 3. Start the listed fourth replica: it gets calls within one connection age. The image is one
    // that the
    // fourth owns among the replicas now up (the same hashing the gateway runs, over the same ids).
    List<String> live = new ArrayList<>(visionAddrs);
    live.remove(owner);
    String fourthId = "127.0.0.1:" + fourthPort;
    byte[] forFourth = null;
    for (int seed = 100; seed < 400 && forFourth == null; seed++) {
      byte[] candidate = png(seed);
      if (Rendezvous.ownerOf(VisionRouter.contentKey(candidate), live).equals(fourthId))
        forFourth = candidate;
    }
    assertNotNull(forFourth, "no test image hashes to the fourth replica");
    Recorder fourthCalls = new Recorder();
    long started;
    VisionServer fourth = startVision(fourthPort, fourthCalls);
    started = System.nanoTime();
    long deadline = started + TimeUnit.SECONDS.toNanos(60);
    int n = 0;
    while (fourthCalls.requests.isEmpty() && System.nanoTime() < deadline) {
      chat("fourth-" + n++, List.of(user("And this?", forFourth)));
    }
    double waited = (System.nanoTime() - started) / 1e9;
    System.out.printf(
        "multi-replica routing: first round %d misses over 20 chats; stopped replica owned %d"
            + " images, which missed %d times after the stop (images sent again after a failed"
            + " call on a remaining replica: %d); fourth replica's first call %.2f s after it"
            + " started%n",
        missedChats, orphans.size(), secondRoundMisses, resent, waited);
    assertFalse(fourthCalls.requests.isEmpty(), "the fourth replica got no call in 60 s");
    assertTrue(
        waited <= AGE_SECONDS,
        "the fourth replica got its first call "
            + waited
            + " s after it started; one connection age is "
            + AGE_SECONDS
            + " s");
    assertEquals(1, misses(fourth), "the image moved to its owner, where it was encoded once");
    assertEquals(Set.of(VisionRouter.contentKey(forFourth)), fourthCalls.imageKeys());

    // 4. Two conversations of three turns: each turn of a conversation goes to the same decoder
    for (String conv : List.of("a", "b")) {
      byte[] image = images.get(conv.equals("a") ? 0 : 1);
      List<ChatMessage> messages = new ArrayList<>();
      messages.add(message("system", "You answer in one word. Conversation " + conv + "."));
      messages.add(user("Describe the picture.", image));
      for (int turn = 1; turn <= 3; turn++) {
        ChatFinal f = chat("conv-" + conv + "-" + turn, messages);
        System.out.printf(
            "multi-replica routing: conversation %s turn %d: %d prompt tokens, %d reused from the"
                + " prefix cache%n",
            conv, turn, f.getUsage().getPromptTokens(), f.getUsage().getCachedPromptTokens());
        // a later turn lands where the earlier ones left their blocks: the system prompt, first
        // question and image
        if (turn > 1) {
          assertTrue(
              f.getUsage().getCachedPromptTokens() > 0,
              "conversation "
                  + conv
                  + " turn "
                  + turn
                  + " reused no prompt tokens: "
                  + f.getUsage());
        }
        messages.add(message("assistant", "Answer " + turn + "."));
        messages.add(user("Tell me more, part " + turn + ".", null));
      }
    }
    for (String conv : List.of("a", "b")) {
      int holders = 0;
      for (Recorder r : decoderCalls) {
        long turns =
            r.requestIds().stream().filter(id -> id.startsWith("conv-" + conv + "-")).count();
        if (turns > 0) {
          holders++;
          assertEquals(3, turns, "conversation " + conv + " had all its turns on one decoder");
        }
      }
      assertEquals(1, holders, "decoders that served conversation " + conv);
    }
  }
}
