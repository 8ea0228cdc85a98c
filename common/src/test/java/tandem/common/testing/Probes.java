package tandem.common.testing;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.util.concurrent.TimeUnit;
import tandem.proto.vision.v1.EmbedRequest;
import tandem.proto.vision.v1.VisionServiceGrpc;

/**
 * What a client (a kubelet probe, the gateway) gets from a port, for the network and health-port
 * tests.
 */
public final class Probes {
  private Probes() {}

  /** grpc.health.v1 Check of the whole server. */
  public static ServingStatus health(ManagedChannel c) {
    return HealthGrpc.newBlockingStub(c)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance())
        .getStatus();
  }

  /** The status of an empty Embed call: OK, or the code it was refused with. */
  public static Status.Code embedCode(ManagedChannel c) {
    try {
      VisionServiceGrpc.newBlockingStub(c)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .embed(EmbedRequest.getDefaultInstance());
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }
}
