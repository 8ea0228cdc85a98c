package tandem.vision.telemetry;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.Meter;
import java.util.ArrayList;
import java.util.List;
import tandem.common.telemetry.Telemetry;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;

/**
 * The embedding cache's counters as OpenTelemetry instruments. They are observable (read from
 * {@link EmbeddingCache#stats()} when a reader collects), so a request never touches a metric.
 *
 * <p>No semantic convention covers an encoder cache, so the names are plain: {@code
 * vision.cache.requests} (counter, attribute {@code vision.cache.result} = hit | miss | joined),
 * {@code vision.cache.evictions}, {@code vision.cache.size} (bytes held), {@code
 * vision.cache.entries}, {@code vision.cache.capacity} (bytes); and the batcher's {@code
 * vision.batches} (forward passes), {@code vision.tiles.encoded} and {@code vision.queue.tiles}
 * (tiles waiting, the autoscaling signal).
 */
public final class VisionMetrics implements AutoCloseable {
  static final AttributeKey<String> RESULT = AttributeKey.stringKey("vision.cache.result");

  private final List<AutoCloseable> instruments = new ArrayList<>();

  private VisionMetrics() {}

  /** Registers the cache's instruments on {@code telemetry}'s meter; close to unregister. */
  public static VisionMetrics register(
      Telemetry telemetry, EmbeddingCache cache, TileBatcher batcher) {
    Meter m = telemetry.meter("tandem.vision");
    VisionMetrics v = new VisionMetrics();
    Attributes hit = Attributes.of(RESULT, "hit");
    Attributes miss = Attributes.of(RESULT, "miss");
    Attributes joined = Attributes.of(RESULT, "joined");
    v.instruments.add(
        m.counterBuilder("vision.cache.requests")
            .setUnit("{image}")
            .setDescription(
                "Embedding cache lookups by result (joined: waited for the same image being"
                    + " computed)")
            .buildWithCallback(
                r -> {
                  EmbeddingCache.Stats s = cache.stats();
                  r.record(s.hits(), hit);
                  r.record(s.misses(), miss);
                  r.record(s.joined(), joined);
                }));
    v.instruments.add(
        m.counterBuilder("vision.cache.evictions")
            .setUnit("{entry}")
            .setDescription("Embeddings evicted to stay within the byte bound")
            .buildWithCallback(r -> r.record(cache.stats().evictions())));
    v.instruments.add(
        m.upDownCounterBuilder("vision.cache.size")
            .setUnit("By")
            .setDescription("Bytes of embeddings held in the cache")
            .buildWithCallback(r -> r.record(cache.stats().bytes())));
    v.instruments.add(
        m.upDownCounterBuilder("vision.cache.entries")
            .setUnit("{entry}")
            .setDescription("Embeddings held in the cache")
            .buildWithCallback(r -> r.record(cache.stats().entries())));
    v.instruments.add(
        m.upDownCounterBuilder("vision.cache.capacity")
            .setUnit("By")
            .setDescription("The cache's byte bound")
            .buildWithCallback(r -> r.record(cache.stats().maxBytes())));
    v.instruments.add(
        m.counterBuilder("vision.batches")
            .setUnit("{batch}")
            .setDescription("Tower forward passes run (each encodes up to the batch cap of tiles)")
            .buildWithCallback(r -> r.record(batcher.stats().batches())));
    // the autoscaling signal of vision-svc (Prometheus vision_queue_tiles; the Helm chart's
    // HPA/KEDA options)
    v.instruments.add(
        m.upDownCounterBuilder("vision.queue.tiles")
            .setUnit("{tile}")
            .setDescription("Tiles waiting for a forward pass")
            .buildWithCallback(r -> r.record(batcher.queuedTiles())));
    v.instruments.add(
        m.counterBuilder("vision.tiles.encoded")
            .setUnit("{tile}")
            .setDescription("Tiles encoded by the tower")
            .buildWithCallback(r -> r.record(batcher.stats().tiles())));
    return v;
  }

  @Override
  public void close() {
    for (AutoCloseable c : instruments) {
      try {
        c.close();
      } catch (Exception ignored) {
        // an instrument that fails to unregister only keeps reporting; nothing to recover
      }
    }
  }
}
