package tandem.gateway.grpc;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;

/** The in-process servers and channels a gateway test opens; all shut down after each test. */
public abstract class InProcessTest {
  protected final List<Server> servers = new ArrayList<>();
  protected final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void stopInProcess() throws InterruptedException {
    for (ManagedChannel c : channels) c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    for (Server s : servers) s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Serves {@code svc} on a fresh in-process name (direct executor); returns the name. */
  protected String serve(BindableService svc) throws Exception {
    String name = InProcessServerBuilder.generateName();
    servers.add(
        InProcessServerBuilder.forName(name).directExecutor().addService(svc).build().start());
    return name;
  }

  protected ManagedChannel channel(String name) {
    ManagedChannel c = InProcessChannelBuilder.forName(name).build();
    channels.add(c);
    return c;
  }
}
