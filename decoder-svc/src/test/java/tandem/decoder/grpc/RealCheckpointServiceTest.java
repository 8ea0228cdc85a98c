package tandem.decoder.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.ServerHost;
import tandem.common.io.Npy;
import tandem.common.testing.Fixtures;
import tandem.common.testing.TinyCheckpoints;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.model.Qwen3ForCausalLM;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateFinal;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.FinishReason;
import tandem.proto.types.v1.GenerationParams;
import tandem.proto.types.v1.Tensor;

/**
 * The service on the real Qwen3 model (tiny TRW-1 checkpoints rebuilt from the fixtures) against
 * the fixtures' independent references: plain greedy ids (decoder-tiny goldens), greedy ids with
 * the seed's processors and spliced image embeddings (vlm-tiny greedy_processed_ids), and batching
 * invariance.
 */
class RealCheckpointServiceTest {
  private static final List<String> SEQUENCES = List.of("hello", "single", "chat", "random64");
  private static DecoderServer decoderTiny;
  private static ManagedChannel decoderChannel;
  private static DecoderServer vlmTiny;
  private static ManagedChannel vlmChannel;

  @BeforeAll
  static void start() throws Exception {
    decoderTiny = serve(TinyCheckpoints.decoderTiny(), 4, 128);
    decoderChannel = InProcessChannelBuilder.forName("decoder-tiny").build();
    vlmTiny = serve(TinyCheckpoints.vlmTiny(), 2, 1024);
    vlmChannel = InProcessChannelBuilder.forName("vlm-tiny").build();
  }

  private static DecoderServer serve(Path dir, int slots, int maxSeqLen) throws Exception {
    DecoderServerConfig cfg =
        DecoderServerConfig.of(dir, "cpu", "float32", 0, slots, maxSeqLen, 8, 64 << 20, 512);
    // float32 K/V: the reference ids come from float computations, and bf16 K/V flips near-ties of
    // these random
    // weights' flat logits (KvCacheDtypeTest bounds the logit change)
    Qwen3ForCausalLM lm = Qwen3ForCausalLM.load(dir, cfg.options().withKvCache(0, "f32", true));
    String name = dir.getFileName().toString();
    return DecoderServer.start(
        lm,
        DecoderServer.ModelInfo.fromDir(dir),
        cfg,
        ServerHost.inProcess(InProcessServerBuilder.forName(name)));
  }

  @AfterAll
  static void stop() {
    decoderChannel.shutdownNow();
    vlmChannel.shutdownNow();
    decoderTiny.close();
    vlmTiny.close();
  }

  @Test
  void plainGreedyStreamsMatchTheReferenceIdsOfEverySequence() throws Exception {
    for (String seq : SEQUENCES) {
      Result r = generate(decoderChannel, plain(seq).build());
      assertArrayEquals(golden(seq), r.ids(), seq);
      assertEquals(FinishReason.FINISH_REASON_LENGTH, r.fin().getFinishReason(), seq);
    }
  }

  @Test
  void aSequenceDecodedAloneAndWhileThreeOthersRunGetsTheSameIds() throws Exception {
    var stub = DecoderServiceGrpc.newStub(decoderChannel);
    for (String target : List.of("hello", "random64")) {
      int[] alone = generate(decoderChannel, plain(target).build()).ids();
      List<CompletableFuture<Result>> others = new ArrayList<>();
      for (String other : SEQUENCES)
        if (!other.equals(target)) others.add(generateAsync(stub, plain(other).build()));
      Result batched = generate(decoderChannel, plain(target).build());
      assertArrayEquals(alone, batched.ids(), target + " changed when batched");
      assertArrayEquals(golden(target), batched.ids(), target);
      for (CompletableFuture<Result> f : others) f.get(60, TimeUnit.SECONDS);
    }
    assertEquals(0, decoderTiny.metrics().activeSequences());
  }

  @Test
  void textOnlyPromptWithTheDefaultProcessorsGivesTheReferenceProcessedIds() throws Exception {
    // Server defaults: no_repeat_ngram_size 2, min_new_tokens 16, stop at 151645
    // (generation_config.json).
    JsonObject ref = references("c6_text_only");
    Result r =
        generate(
            vlmChannel,
            GenerateRequest.newBuilder()
                .setRequestId("c6")
                .addAllInputIds(boxed(inputIds("c6_text_only")))
                .setParams(GenerationParams.newBuilder().setMaxNewTokens(24))
                .build());
    assertArrayEquals(ints(ref.getAsJsonArray("greedy_processed_ids")), r.ids());
    assertEquals(FinishReason.FINISH_REASON_STOP, r.fin().getFinishReason());
  }

  @Test
  void splicedImageEmbeddingsGiveTheReferenceProcessedIds() throws Exception {
    for (String[] conv :
        new String[][] {
          {"c1_en_describe", "a1_coffee"}, {"c3_zh_two_images", "a3_tiny_rgba", "a4_camera_gray"}
        }) {
      GenerateRequest.Builder b =
          GenerateRequest.newBuilder()
              .setRequestId(conv[0])
              .addAllInputIds(boxed(inputIds(conv[0])))
              .setParams(
                  GenerationParams.newBuilder()
                      .setMaxNewTokens(24)
                      .setNoRepeatNgramSize(2)
                      .setMinNewTokens(16));
      for (int i = 1; i < conv.length; i++) {
        b.addImageEmbeddings(npyTensor("vlm-tiny/vision/" + conv[i] + ".connector.npy"));
      }
      Result r = generate(vlmChannel, b.build());
      JsonObject ref = references(conv[0]);
      assertArrayEquals(ints(ref.getAsJsonArray("greedy_processed_ids")), r.ids(), conv[0]);
      assertEquals(ref.getAsJsonArray("greedy_processed_ids").size(), r.fin().getGeneratedTokens());
      assertEquals(ref.get("n_prompt_tokens").getAsInt(), r.fin().getPromptTokens());
    }
  }

  // ------------------------------------------------------------------ helpers

  record Result(int[] ids, GenerateFinal fin) {}

  private static GenerateRequest.Builder plain(String seq) throws Exception {
    return GenerateRequest.newBuilder()
        .setRequestId(seq)
        .addAllInputIds(boxed(sequence(seq)))
        .setParams(
            GenerationParams.newBuilder()
                .setMaxNewTokens(32)
                .setMinNewTokens(0)
                .setNoRepeatNgramSize(0));
  }

  static Result generate(ManagedChannel ch, GenerateRequest req) {
    List<Integer> ids = new ArrayList<>();
    GenerateFinal fin = null;
    var it =
        DecoderServiceGrpc.newBlockingStub(ch)
            .withDeadlineAfter(120, TimeUnit.SECONDS)
            .generate(req);
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasTokens()) ids.addAll(r.getTokens().getIdsList());
      else fin = r.getFinal();
    }
    return new Result(ids.stream().mapToInt(Integer::intValue).toArray(), fin);
  }

  static CompletableFuture<Result> generateAsync(
      DecoderServiceGrpc.DecoderServiceStub stub, GenerateRequest req) {
    CompletableFuture<Result> f = new CompletableFuture<>();
    List<Integer> ids = new ArrayList<>();
    GenerateFinal[] fin = new GenerateFinal[1];
    stub.generate(
        req,
        new io.grpc.stub.StreamObserver<>() {
          @Override
          public void onNext(GenerateResponse r) {
            if (r.hasTokens()) ids.addAll(r.getTokens().getIdsList());
            else fin[0] = r.getFinal();
          }

          @Override
          public void onError(Throwable t) {
            f.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            f.complete(new Result(ids.stream().mapToInt(Integer::intValue).toArray(), fin[0]));
          }
        });
    return f;
  }

  static Tensor npyTensor(String fixture) throws Exception {
    Npy.Array a = Npy.read(Fixtures.path(fixture));
    float[] v = a.floats();
    ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) buf.putFloat(x);
    Tensor.Builder t =
        Tensor.newBuilder().setDtype(DType.DTYPE_FLOAT32).setData(ByteString.copyFrom(buf.array()));
    for (long d : a.shape()) t.addShape(d);
    return t.build();
  }

  static int[] golden(String seq) throws Exception {
    return ints(
        json("decoder-tiny/goldens/" + seq + ".json")
            .getAsJsonObject("ref64")
            .getAsJsonArray("greedy"));
  }

  static int[] sequence(String seq) throws Exception {
    return ints(json("sequences.json").getAsJsonArray(seq));
  }

  static JsonObject references(String conv) throws Exception {
    return json("vlm-tiny/references.json").getAsJsonObject("conversations").getAsJsonObject(conv);
  }

  static int[] inputIds(String conv) throws Exception {
    for (JsonElement c : json("vlm-tiny/prompts.json").getAsJsonArray("conversations")) {
      if (c.getAsJsonObject().get("id").getAsString().equals(conv)) {
        return ints(c.getAsJsonObject().getAsJsonArray("input_ids"));
      }
    }
    throw new AssertionError("no conversation " + conv);
  }

  static JsonObject json(String fixture) throws Exception {
    return JsonParser.parseString(Files.readString(Fixtures.path(fixture))).getAsJsonObject();
  }

  static int[] ints(JsonArray a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
    return out;
  }

  static List<Integer> boxed(int[] ids) {
    List<Integer> out = new ArrayList<>();
    for (int id : ids) out.add(id);
    return out;
  }
}
