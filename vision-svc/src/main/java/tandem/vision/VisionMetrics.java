package tandem.vision;

import io.opentelemetry.api.metrics.Meter;
import tandem.vision.batch.TileBatcher;
import tandem.vision.cache.EmbeddingCache;

/** Cache and batcher counters as asynchronous OpenTelemetry instruments (read on each collection). */
final class VisionMetrics {
  private VisionMetrics() {}

  static void register(Meter meter, EmbeddingCache cache, TileBatcher batcher) {
    meter.counterBuilder("tandem.vision.cache.hits").setDescription("embedding cache hits")
        .buildWithCallback(m -> m.record(cache.stats().hits()));
    meter.counterBuilder("tandem.vision.cache.misses").setDescription("embedding cache misses (encodes started)")
        .buildWithCallback(m -> m.record(cache.stats().misses()));
    meter.counterBuilder("tandem.vision.cache.joined").setDescription("lookups that waited on an identical image in flight")
        .buildWithCallback(m -> m.record(cache.stats().joined()));
    meter.counterBuilder("tandem.vision.cache.evictions").setDescription("entries evicted to stay under the byte bound")
        .buildWithCallback(m -> m.record(cache.stats().evictions()));
    meter.gaugeBuilder("tandem.vision.cache.bytes").ofLongs().setUnit("By").setDescription("bytes held by the cache")
        .buildWithCallback(m -> m.record(cache.stats().bytes()));
    meter.counterBuilder("tandem.vision.batches").setDescription("forward passes run")
        .buildWithCallback(m -> m.record(batcher.stats().batches()));
    meter.counterBuilder("tandem.vision.tiles").setDescription("tiles encoded")
        .buildWithCallback(m -> m.record(batcher.stats().tiles()));
  }
}
