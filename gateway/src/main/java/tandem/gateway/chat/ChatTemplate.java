package tandem.gateway.chat;

import java.util.List;

/**
 * The Qwen3-SmVL chat template ({@code qwen3-smvl-chat_template.jinja}, as HF's {@code
 * apply_chat_template} renders it) implemented in Java as a pure function. It produces {@link
 * Segment}s rather than a string so that the template's own control tokens are kept apart from
 * message text: text a client typed can never become a control token. Rendering the segments gives
 * the string jinja2 produces (checked byte for byte against the fixtures).
 *
 * <p>Supported: roles system/user/assistant, text and image items, add_generation_prompt,
 * enable_thinking (tri-state: {@code null} means "not defined", as in HF when the caller does not
 * pass it). Not supported (refused): tools and tool turns. Images are accepted in user messages
 * only: the template would otherwise run Python string operations over the image placeholder
 * (assistant) or print a list repr (first system message).
 */
public final class ChatTemplate {
  private ChatTemplate() {}

  /** Renders a conversation; see the class comment for the semantics. */
  public static List<Segment> render(
      List<Message> messages, boolean addGenerationPrompt, Boolean enableThinking) {
    if (messages.isEmpty()) throw new IllegalArgumentException("the conversation has no messages");
    for (int i = 0; i < messages.size(); i++) {
      Message m = messages.get(i);
      if (m.role() != Role.USER && m.imageCount() > 0) {
        throw new IllegalArgumentException(
            "message "
                + i
                + " ("
                + m.role().wire()
                + ") has an image; images are allowed in user messages only");
      }
    }
    SegmentBuilder out = new SegmentBuilder();
    int imageIndex = 0;

    if (messages.get(0).role() == Role.SYSTEM) {
      special(out, Tokens.IM_START);
      text(out, "system\n" + messages.get(0).text());
      special(out, Tokens.IM_END);
      text(out, "\n");
    }

    int lastQueryIndex = lastQueryIndex(messages);

    for (int i = 0; i < messages.size(); i++) {
      Message m = messages.get(i);
      boolean last = i == messages.size() - 1;
      if (m.role() == Role.USER || (m.role() == Role.SYSTEM && i != 0)) {
        special(out, Tokens.IM_START);
        text(out, m.role().wire() + "\n");
        for (Part p : m.parts()) {
          if (p instanceof Part.Text t) {
            text(out, t.text());
          } else {
            out.add(new Segment.Image(imageIndex++));
            text(out, "\n");
          }
        }
        special(out, Tokens.IM_END);
        text(out, "\n");
      } else if (m.role() == Role.ASSISTANT) {
        String content = m.text();
        String reasoning = "";
        if (content.contains(Tokens.END_THINK)) {
          String beforeFirstEnd = content.substring(0, content.indexOf(Tokens.END_THINK));
          String r = rstripNewlines(beforeFirstEnd);
          int lastThink = r.lastIndexOf(Tokens.THINK);
          reasoning =
              lstripNewlines(lastThink < 0 ? r : r.substring(lastThink + Tokens.THINK.length()));
          content =
              lstripNewlines(
                  content.substring(
                      content.lastIndexOf(Tokens.END_THINK) + Tokens.END_THINK.length()));
        }
        special(out, Tokens.IM_START);
        if (i > lastQueryIndex && (last || !reasoning.isEmpty())) {
          text(out, "assistant\n");
          special(out, Tokens.THINK);
          text(out, "\n" + stripNewlines(reasoning) + "\n");
          special(out, Tokens.END_THINK);
          text(out, "\n\n" + lstripNewlines(content));
        } else {
          text(out, "assistant\n" + content);
        }
        special(out, Tokens.IM_END);
        text(out, "\n");
      }
    }
    if (addGenerationPrompt) {
      special(out, Tokens.IM_START);
      text(out, "assistant\n");
      if (Boolean.FALSE.equals(enableThinking)) {
        special(out, Tokens.THINK);
        text(out, "\n\n");
        special(out, Tokens.END_THINK);
        text(out, "\n\n");
      }
    }
    return out.build();
  }

  /**
   * The template's {@code ns.last_query_index}: the last user message that is not a tool response.
   * A list content counts only through its text items, so a user turn made only of images is not a
   * query (as in jinja2).
   */
  static int lastQueryIndex(List<Message> messages) {
    for (int i = messages.size() - 1; i >= 0; i--) {
      Message m = messages.get(i);
      if (m.role() != Role.USER) continue;
      if (m.stringContent()) {
        if (!isToolResponse(m.text())) return i;
      } else {
        for (Part p : m.parts()) {
          if (p instanceof Part.Text t && !isToolResponse(t.text())) return i;
        }
      }
    }
    return messages.size() - 1;
  }

  private static boolean isToolResponse(String s) {
    return s.startsWith(Tokens.TOOL_RESPONSE) && s.endsWith(Tokens.END_TOOL_RESPONSE);
  }

  /** Appends text, merging with a preceding text segment (adjacent text is one BPE input in HF). */
  private static void text(SegmentBuilder out, String s) {
    out.text(s);
  }

  private static void special(SegmentBuilder out, String token) {
    out.add(new Segment.Special(token));
  }

  static String lstripNewlines(String s) {
    int i = 0;
    while (i < s.length() && s.charAt(i) == '\n') i++;
    return s.substring(i);
  }

  static String rstripNewlines(String s) {
    int j = s.length();
    while (j > 0 && s.charAt(j - 1) == '\n') j--;
    return s.substring(0, j);
  }

  static String stripNewlines(String s) {
    return rstripNewlines(lstripNewlines(s));
  }
}
