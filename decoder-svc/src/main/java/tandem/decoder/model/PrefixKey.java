package tandem.decoder.model;

/**
 * Content address of one full KV block: 128 bits of a SHA-256 over everything that decides the
 * block's K/V (the tokens, or image embedding rows, of the block and of every block before it). See
 * {@code tandem.decoder.generate.PrefixKeys}.
 */
public record PrefixKey(long hi, long lo) {}
