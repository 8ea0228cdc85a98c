package tandem.gateway.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.proto.types.v1.Tensor;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.EmbedResponse;
import tandem.proto.vision.v1.EmbedTimings;
import tandem.proto.vision.v1.ImageEmbedding;
import tandem.proto.vision.v1.ImageInput;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * The vision router against fake replicas on in-process transports: each fake answers every image
 * with its own name as the content hash and 64 rows, or refuses as told.
 */
class VisionRouterTest {
  final List<Server> servers = new ArrayList<>();
  final List<AutoCloseable> closeables = new ArrayList<>();
  final Map<String, List<EmbedRequest>> received = new ConcurrentHashMap<>();
  final Map<String, Status> refuse = new ConcurrentHashMap<>();
  final Map<String, String[]> dns = new ConcurrentHashMap<>();

  /** Starts a fake replica answering at the in-process name {@code ip}. */
  void fake(String ip) throws Exception {
    received.put(ip, new CopyOnWriteArrayList<>());
    servers.add(
        InProcessServerBuilder.forName(ip)
            .directExecutor()
            .addService(
                new VisionServiceGrpc.VisionServiceImplBase() {
                  @Override
                  public void embed(EmbedRequest r, StreamObserver<EmbedResponse> out) {
                    received.get(ip).add(r);
                    Status s = refuse.get(ip);
                    if (s != null) {
                      out.onError(s.asRuntimeException());
                      return;
                    }
                    EmbedResponse.Builder b =
                        EmbedResponse.newBuilder()
                            .setModelId("m")
                            .setTimings(
                                EmbedTimings.newBuilder().setEncodeMs(ip.endsWith("1") ? 5 : 9));
                    for (int i = 0; i < r.getImagesCount(); i++) {
                      b.addImages(
                          ImageEmbedding.newBuilder()
                              .setContentHash(
                                  ip
                                      + "/"
                                      + r.getImages(i).getData().toStringUtf8()
                                      + r.getImages(i).getImageId())
                              .setEmbeddings(Tensor.newBuilder().addShape(64)));
                    }
                    out.onNext(b.build());
                    out.onCompleted();
                  }
                })
            .build()
            .start());
  }

  EndpointPool pool(String name, Duration period) {
    EndpointPool p =
        new EndpointPool(
            "vision-svc",
            BackendTarget.parse("TANDEM_VISION_ADDR", name + ":50052"),
            (address, authority) ->
                InProcessChannelBuilder.forName(address.getAddress().getHostAddress())
                    .directExecutor()
                    .build(),
            host -> {
              String[] ips = dns.get(host);
              if (ips == null) throw new java.net.UnknownHostException(host);
              InetAddress[] out = new InetAddress[ips.length];
              for (int i = 0; i < ips.length; i++) out[i] = InetAddress.getByName(ips[i]);
              return out;
            },
            period);
    closeables.add(p);
    return p;
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closeables) c.close();
    for (Server s : servers) s.shutdownNow();
  }

  static ImageInput data(String s) {
    return ImageInput.newBuilder().setData(ByteString.copyFromUtf8(s)).build();
  }

  static String owner(ImageInput in, String scope, List<String> ips) {
    List<String> ids = ips.stream().map(ip -> ip + ":50052").toList();
    String id = Rendezvous.ownerOf(VisionRouter.routingKey(in, scope), ids);
    return id.substring(0, id.indexOf(':'));
  }

  @Test
  void aRequestIsSplitByOwnerAndTheAnswersComeBackInRequestOrder() throws Exception {
    List<String> ips = List.of("10.9.0.1", "10.9.0.2", "10.9.0.3");
    for (String ip : ips) fake(ip);
    dns.put("vision", ips.toArray(String[]::new));
    VisionRouter router = new VisionRouter(pool("vision", Duration.ofMinutes(1)));
    EmbedRequest.Builder req =
        EmbedRequest.newBuilder().setClientScope("alice").setMaxImageTokens(100_000);
    for (int i = 0; i < 12; i++) req.addImages(data("img" + i));
    req.addImages(ImageInput.newBuilder().setImageId("my-id"));
    EmbedResponse r =
        VisionServiceGrpc.newBlockingStub(router)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .embed(req.build());
    assertEquals(13, r.getImagesCount());
    for (int i = 0; i < 13; i++) {
      ImageInput in = req.getImages(i);
      String expectedOwner = owner(in, "alice", ips);
      assertEquals(
          expectedOwner + "/" + in.getData().toStringUtf8() + in.getImageId(),
          r.getImages(i).getContentHash());
    }
    int calls = 0;
    for (String ip : ips) calls += received.get(ip).size();
    assertTrue(calls >= 2 && calls <= 3, "one call per owner, got " + calls);
    assertEquals(
        9, r.getTimings().getEncodeMs(), "parts run side by side: the slowest part's time");
  }

  @Test
  void anImageIdIsRoutedByTheClientScopedIdWhereverItsBytesWouldGo() {
    ImageInput withBytes =
        ImageInput.newBuilder().setData(ByteString.copyFromUtf8("same")).setImageId("id1").build();
    ImageInput idOnly = ImageInput.newBuilder().setImageId("id1").build();
    assertEquals(
        VisionRouter.routingKey(withBytes, "alice"), VisionRouter.routingKey(idOnly, "alice"));
    assertTrue(VisionRouter.routingKey(idOnly, "alice") != VisionRouter.routingKey(idOnly, "bob"));
  }

  @Test
  void whenTheOwnerIsUnavailableTheNextReplicaInTheImagesRankingServesIt() throws Exception {
    List<String> ips = List.of("10.9.1.1", "10.9.1.2", "10.9.1.3");
    for (String ip : ips) fake(ip);
    dns.put("vision", ips.toArray(String[]::new));
    VisionRouter router = new VisionRouter(pool("vision", Duration.ofMinutes(1)));
    ImageInput img = data("lonely");
    String first = owner(img, "", ips);
    List<String> rest = new ArrayList<>(ips);
    rest.remove(first);
    String second = owner(img, "", rest);
    refuse.put(first, Status.UNAVAILABLE.withDescription("draining"));
    EmbedResponse r =
        VisionServiceGrpc.newBlockingStub(router)
            .embed(EmbedRequest.newBuilder().addImages(img).build());
    assertEquals(second + "/lonely", r.getImages(0).getContentHash());
    assertEquals(1, received.get(first).size());
    // the resend is counted against the replica whose call failed, and only there
    assertEquals(1, router.imagesSentAgain(first + ":50052"));
    assertEquals(0, router.imagesSentAgain(second + ":50052"));
  }

  @Test
  void resendCountsOfReplicasNoLongerListedAreForgottenBeyondTheirBound() {
    List<String> ips = List.of("10.9.5.1", "10.9.5.2");
    dns.put("vision", ips.toArray(String[]::new));
    VisionRouter router = new VisionRouter(pool("vision", Duration.ofMinutes(1)));
    router.countResend("10.9.5.1:50052", 2);
    for (int i = 0; i < 255; i++) router.countResend("10.8.0." + i + ":50052", 1); // 256 in all
    assertEquals(1, router.imagesSentAgain("10.8.0.7:50052"), "at the bound every count is kept");
    router.countResend("10.8.1.0:50052", 1); // one more replica: past the bound
    assertEquals(0, router.imagesSentAgain("10.8.0.7:50052"), "a replica no longer listed");
    assertEquals(0, router.imagesSentAgain("10.8.1.0:50052"));
    assertEquals(2, router.imagesSentAgain("10.9.5.1:50052"), "a listed replica keeps its count");
  }

  @Test
  void aPartsRefusalNamesTheImageByItsIndexInTheCallersRequest() throws Exception {
    List<String> ips = List.of("10.9.2.1", "10.9.2.2");
    for (String ip : ips) fake(ip);
    dns.put("vision", ips.toArray(String[]::new));
    VisionRouter router = new VisionRouter(pool("vision", Duration.ofMinutes(1)));
    // find a request whose last image is alone on its owner, then make that owner refuse "image 0"
    EmbedRequest.Builder req = EmbedRequest.newBuilder();
    for (int i = 0; i < 6; i++) req.addImages(data("x" + i));
    String lastOwner = owner(req.getImages(5), "", ips);
    int lastIndexOnOwner = 0;
    for (int i = 0; i < 5; i++)
      if (owner(req.getImages(i), "", ips).equals(lastOwner)) lastIndexOnOwner++;
    refuse.put(
        lastOwner,
        Status.INVALID_ARGUMENT.withDescription("image " + lastIndexOnOwner + " is not an image"));
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> VisionServiceGrpc.newBlockingStub(router).embed(req.build()));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertEquals("image 5 is not an image", e.getStatus().getDescription());
  }

  @Test
  void imagesOverTheBudgetTogetherAreRefusedInTheWordsTheGatewayParses() throws Exception {
    List<String> ips = List.of("10.9.3.1", "10.9.3.2");
    for (String ip : ips) fake(ip);
    dns.put("vision", ips.toArray(String[]::new));
    VisionRouter router = new VisionRouter(pool("vision", Duration.ofMinutes(1)));
    EmbedRequest.Builder req = EmbedRequest.newBuilder().setMaxImageTokens(64 * 5);
    for (int i = 0; i < 8; i++) req.addImages(data("b" + i));
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> VisionServiceGrpc.newBlockingStub(router).embed(req.build()));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("need 512 image tokens"),
        e.getStatus().getDescription());
    assertTrue(e.getStatus().getDescription().contains("max_image_tokens"));
  }

  @Test
  void aNameThatDoesNotResolveFailsTheCallUnavailableSayingWhy() {
    VisionRouter router = new VisionRouter(pool("nowhere", Duration.ofMinutes(1)));
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                VisionServiceGrpc.newBlockingStub(router)
                    .embed(EmbedRequest.newBuilder().addImages(data("a")).build()));
    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertTrue(
        e.getStatus().getDescription().contains("nowhere does not resolve"),
        e.getStatus().getDescription());
  }

  @Test
  void aPodAddedToTheNameGetsItsImagesWithinOneRefreshPeriodAndARemovedOneNoMore()
      throws Exception {
    List<String> ips = new ArrayList<>(List.of("10.9.4.1", "10.9.4.2"));
    for (String ip : List.of("10.9.4.1", "10.9.4.2", "10.9.4.3")) fake(ip);
    dns.put("vision", ips.toArray(String[]::new));
    EndpointPool pool = pool("vision", Duration.ofMillis(200));
    VisionRouter router = new VisionRouter(pool);
    // an image that the new pod will own
    ImageInput img = null;
    List<String> withNew = List.of("10.9.4.1", "10.9.4.2", "10.9.4.3");
    for (int i = 0; img == null; i++)
      if (owner(data("n" + i), "", withNew).equals("10.9.4.3")) img = data("n" + i);
    dns.put("vision", withNew.toArray(String[]::new));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (pool.endpoints().size() < 3 && System.nanoTime() < deadline) Thread.sleep(20);
    assertEquals(3, pool.endpoints().size(), "the timer picked the new address up");
    EmbedResponse r =
        VisionServiceGrpc.newBlockingStub(router)
            .embed(EmbedRequest.newBuilder().addImages(img).build());
    assertTrue(r.getImages(0).getContentHash().startsWith("10.9.4.3/"));

    dns.put("vision", new String[] {"10.9.4.1"});
    while (pool.endpoints().size() > 1 && System.nanoTime() < deadline) Thread.sleep(20);
    assertEquals(List.of("10.9.4.1:50052"), pool.endpoints().stream().map(Endpoint::id).toList());
    dns.remove("vision"); // a failed lookup keeps what is known
    pool.refresh();
    assertEquals(1, pool.endpoints().size());
    assertTrue(pool.lastProblem().contains("does not resolve"));
  }
}
