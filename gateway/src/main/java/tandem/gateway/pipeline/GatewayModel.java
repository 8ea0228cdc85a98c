package tandem.gateway.pipeline;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tandem.gateway.chat.ChatTemplates;
import tandem.gateway.chat.Tokens;
import tandem.gateway.tokenize.QwenTokenizer;

/**
 * What the gateway needs from a checkpoint: its tokenizer, the image-token count per tile and the
 * image token id. Loading refuses a checkpoint whose chat template is not the Qwen3-SmVL one (the
 * prompt is built in Java).
 */
public record GatewayModel(QwenTokenizer tokenizer, int imageSeqLen, int imageTokenId)
    implements AutoCloseable {
  public GatewayModel {
    if (imageSeqLen <= 0)
      throw new IllegalArgumentException("image_seq_len must be positive, got " + imageSeqLen);
  }

  /**
   * Loads from a checkpoint folder: tokenizer.json (the bundled Qwen3 one when the folder has
   * none), processor_config.json's image_seq_len (64 when absent), and checks the chat template.
   */
  public static GatewayModel load(Path dir) throws IOException {
    if (!Files.isDirectory(dir))
      throw new IOException("checkpoint folder " + dir + " does not exist");
    ChatTemplates.requireKnown(dir);
    int imageSeqLen = 64;
    Path pc = dir.resolve("processor_config.json");
    if (Files.isRegularFile(pc)) {
      JsonObject o = JsonParser.parseString(Files.readString(pc)).getAsJsonObject();
      if (o.has("image_seq_len")) imageSeqLen = o.get("image_seq_len").getAsInt();
    }
    QwenTokenizer tok = QwenTokenizer.forCheckpointOrBundled(dir);
    return new GatewayModel(tok, imageSeqLen, tok.addedTokenId(Tokens.IMAGE_PAD));
  }

  /**
   * The bundled Qwen3 tokenizer with the SmolVLM2 processor defaults (tests, and a gateway without
   * a model).
   */
  public static GatewayModel bundled() throws IOException {
    QwenTokenizer tok = QwenTokenizer.bundled();
    return new GatewayModel(tok, 64, tok.addedTokenId(Tokens.IMAGE_PAD));
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
