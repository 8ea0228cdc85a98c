package tandem.gateway.routing;

import tandem.gateway.chat.Tokens;
import tandem.gateway.config.GatewaySettings;
import tandem.gateway.pipeline.GatewayModel;

/**
 * The gateway's two backend channels in a split deployment: {@link VisionRouter} (each image to its
 * cache owner) and {@link DecoderRouter} (each conversation to its prefix's replica, bounded by
 * load), each over an {@link EndpointPool} that re-resolves its address list every {@link
 * RoutingSettings#resolvePeriod()}.
 */
public final class Routing implements AutoCloseable {
  private final VisionRouter vision;
  private final DecoderRouter decoder;

  private Routing(VisionRouter vision, DecoderRouter decoder) {
    this.vision = vision;
    this.decoder = decoder;
  }

  /**
   * Parses both addresses (a bad one fails here, naming its variable), resolves them and starts the
   * refresh timers.
   */
  public static Routing start(
      String visionAddr,
      String decoderAddr,
      RoutingSettings s,
      PrefixKey prefixKey,
      EndpointPool.ChannelFactory channels,
      EndpointPool.Resolver resolver) {
    BackendTarget vt = BackendTarget.parse(GatewaySettings.VISION_ADDR.env(), visionAddr);
    BackendTarget dt = BackendTarget.parse(GatewaySettings.DECODER_ADDR.env(), decoderAddr);
    EndpointPool vp = new EndpointPool("vision-svc", vt, channels, resolver, s.resolvePeriod());
    EndpointPool dp;
    try {
      dp = new EndpointPool("decoder-svc", dt, channels, resolver, s.resolvePeriod());
    } catch (RuntimeException e) {
      vp.close();
      throw e;
    }
    return new Routing(
        new VisionRouter(vp),
        new DecoderRouter(dp, prefixKey, s.decoderLoadFactor(), s.loadReportTtl()));
  }

  /**
   * The prefix key of the chat template the gateway renders (ChatML turns of the checkpoint's
   * tokenizer).
   */
  public static PrefixKey prefixKey(GatewayModel model) {
    return new PrefixKey(
        model.tokenizer().addedTokenId(Tokens.IM_START),
        model.tokenizer().addedTokenId(Tokens.IM_END),
        model.tokenizer().encodeText("system"));
  }

  public VisionRouter vision() {
    return vision;
  }

  public DecoderRouter decoder() {
    return decoder;
  }

  @Override
  public void close() {
    vision.pool().close();
    decoder.pool().close();
  }
}
