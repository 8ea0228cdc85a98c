package tandem.decoder.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tandem.common.grpc.ServerHost;
import tandem.decoder.DecoderServer;
import tandem.decoder.DecoderServerConfig;
import tandem.decoder.generate.FakeCausalLm;
import tandem.decoder.generate.GenerationDefaults;
import tandem.proto.decoder.v1.DecoderServiceGrpc;
import tandem.proto.decoder.v1.GenerateRequest;
import tandem.proto.decoder.v1.GenerateResponse;
import tandem.proto.types.v1.DType;
import tandem.proto.types.v1.GenerationParams;
import tandem.proto.types.v1.Tensor;

/** Malformed embedding-block shapes whose element or byte counts overflow a long. */
class DecoderGrpcBlockShapeTest {
  private static final int VOCAB = 40;
  private static final int IMAGE = 39;
  private static final int HIDDEN = 4; // FakeCausalLm.random's hidden size
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
  }

  private DecoderServiceGrpc.DecoderServiceBlockingStub serve() throws Exception {
    FakeCausalLm lm = FakeCausalLm.random(VOCAB, 1, 128);
    String name = InProcessServerBuilder.generateName();
    DecoderServerConfig cfg =
        DecoderServerConfig.of(null, "cpu", "float32", 0, 1, 128, 4, 16 << 20, 64);
    DecoderServer server =
        DecoderServer.start(
            lm,
            new DecoderServer.ModelInfo(GenerationDefaults.demo(7), 1000, IMAGE),
            cfg,
            ServerHost.inProcess(InProcessServerBuilder.forName(name).directExecutor()));
    open.add(server);
    ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
    open.add(ch::shutdownNow);
    return DecoderServiceGrpc.newBlockingStub(ch);
  }

  private static void drain(Iterator<GenerateResponse> it) {
    while (it.hasNext()) it.next();
  }

  private static Tensor block(ByteString data, long... shape) {
    Tensor.Builder t = Tensor.newBuilder().setDtype(DType.DTYPE_FLOAT32).setData(data);
    for (long d : shape) t.addShape(d);
    return t.build();
  }

  /**
   * A shape whose element count overflows a long (Math.multiplyExact in TensorCodec.decodeRows
   * threw ArithmeticException, which became INTERNAL) is refused as INVALID_ARGUMENT naming the
   * block, like every other malformed block.
   */
  @Test
  void aBlockWhoseShapeOverflowsIsInvalidArgumentNotInternal() throws Exception {
    var stub = serve();
    GenerateRequest req =
        GenerateRequest.newBuilder()
            .setRequestId("t")
            .addInputIds(1)
            .addInputIds(IMAGE)
            .addImageEmbeddings(
                block(ByteString.copyFrom(new byte[16]), 1L << 40, 1L << 40, HIDDEN))
            .build();
    StatusRuntimeException e =
        assertThrows(StatusRuntimeException.class, () -> drain(stub.generate(req)));
    assertEquals(
        Status.Code.INVALID_ARGUMENT,
        e.getStatus().getCode(),
        "status " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
  }

  /**
   * Two blocks, each claiming 2^60 rows of the hidden size with no bytes: n * 4 bytes wraps to 0,
   * so each passed the byte-count check, and the two element counts (2^62 each) summed past
   * Long.MAX_VALUE to a negative total that slipped under the "too large" check and cast to an
   * empty array. A block whose byte count does not match its shape must be INVALID_ARGUMENT
   * (docs/decoder-svc.md, Errors); here the request is served.
   */
  @Test
  void blocksWhoseByteCountsOnlyMatchModulo2To64AreRefused() throws Exception {
    var stub = serve();
    Tensor lying = block(ByteString.EMPTY, 1L << 60, HIDDEN);
    GenerateRequest req =
        GenerateRequest.newBuilder()
            .setRequestId("t")
            .addInputIds(1)
            .addInputIds(2)
            .addImageEmbeddings(lying)
            .addImageEmbeddings(lying)
            .setParams(GenerationParams.newBuilder().setMaxNewTokens(2))
            .build();
    try {
      drain(stub.generate(req));
    } catch (StatusRuntimeException e) {
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
      return;
    }
    fail(
        "two blocks of shape [2^60, 4] with 0 bytes each were accepted and generated from; "
            + "expected INVALID_ARGUMENT for a byte count that does not match the shape");
  }
}
