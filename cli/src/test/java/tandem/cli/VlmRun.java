package tandem.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** {@code vlm ARGS} run in this process: its exit code and what it printed on stdout and stderr. */
record VlmRun(int code, String out, String err) {
  static VlmRun of(String... args) {
    var cl = Vlm.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new VlmRun(code, out.toString(), err.toString());
  }

  /** The last line of stdout (the commands' JSON summary). */
  String lastLine() {
    String[] lines = out.strip().split("\n");
    return lines[lines.length - 1];
  }
}
