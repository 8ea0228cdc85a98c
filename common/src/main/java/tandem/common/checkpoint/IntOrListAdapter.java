package tandem.common.checkpoint;

import com.google.gson.JsonParseException;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * HF configs write {@code eos_token_id} as an int or a list of ints; both become a List (null stays
 * null).
 */
final class IntOrListAdapter extends TypeAdapter<List<Integer>> {
  @Override
  public void write(JsonWriter out, List<Integer> value) throws IOException {
    if (value == null) {
      out.nullValue();
    } else if (value.size() == 1) {
      out.value(value.get(0));
    } else {
      out.beginArray();
      for (Integer v : value) out.value(v);
      out.endArray();
    }
  }

  @Override
  public List<Integer> read(JsonReader in) throws IOException {
    JsonToken t = in.peek();
    if (t == JsonToken.NULL) {
      in.nextNull();
      return null;
    }
    List<Integer> out = new ArrayList<>();
    if (t == JsonToken.NUMBER) {
      out.add(in.nextInt());
    } else if (t == JsonToken.BEGIN_ARRAY) {
      in.beginArray();
      while (in.hasNext()) out.add(in.nextInt());
      in.endArray();
    } else {
      throw new JsonParseException(
          "expected an int or a list of ints at " + in.getPath() + ", got " + t);
    }
    return List.copyOf(out);
  }
}
