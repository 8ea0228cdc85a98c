package tandem.common.config;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;

/**
 * One setting, declared once: its flag, its environment variable, its default, what it means and
 * which values it takes. The services read their settings through a {@link SettingRegistry} of
 * these; the CLI makes its flags from them, and the docs tables and the Helm chart tests are
 * checked against them. A flag wins over the variable; a blank variable counts as unset.
 *
 * @param flag the long flag without dashes ({@code max-batch})
 * @param aliases other flag names, without dashes
 * @param env the environment variable ({@code TANDEM_DECODER_MAX_BATCH})
 * @param defaultValue the value when neither is given; null when there is none (an optional or
 *     required setting)
 * @param description one sentence for {@code --help} and the docs
 * @param type the value's type, for the CLI's option
 * @param parser text to value, including validation; throws {@link IllegalArgumentException} saying
 *     what is allowed
 * @param defaultText the default as docs show it
 */
public record Setting<T>(
    String flag,
    List<String> aliases,
    String env,
    T defaultValue,
    String description,
    Class<T> type,
    Function<String, T> parser,
    String defaultText) {

  public Setting {
    Objects.requireNonNull(flag, "flag");
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(description, "description");
    aliases = List.copyOf(aliases);
    if (defaultText == null) defaultText = defaultValue == null ? "" : String.valueOf(defaultValue);
  }

  /**
   * {@code raw} (from the flag or the variable named {@code source}) as a value; the message names
   * both.
   */
  public T parse(String source, String raw) {
    try {
      return parser.apply(raw.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(source + "=" + raw + ": " + e.getMessage(), e);
    }
  }

  /** The same setting with other aliases. */
  public Setting<T> withAliases(String... more) {
    return new Setting<>(
        flag, List.of(more), env, defaultValue, description, type, parser, defaultText);
  }

  /**
   * The same setting with the default shown as {@code text} in help and docs (for example {@code
   * 512m}).
   */
  public Setting<T> withDefaultText(String text) {
    return new Setting<>(flag, aliases, env, defaultValue, description, type, parser, text);
  }

  // ---- the kinds of setting

  private static <T> Setting<T> of(
      String flag,
      String env,
      T def,
      String description,
      Class<T> type,
      Function<String, T> parser,
      String defaultText) {
    return new Setting<>(flag, List.of(), env, def, description, type, parser, defaultText);
  }

  public static Setting<String> string(String flag, String env, String def, String description) {
    return of(flag, env, def, description, String.class, s -> s, null);
  }

  public static Setting<Path> path(String flag, String env, String description) {
    return of(flag, env, null, description, Path.class, Path::of, null);
  }

  /** One of {@code allowed}, any case; the value is given in the case of {@code allowed}. */
  public static Setting<String> choice(
      String flag, String env, String def, String description, String... allowed) {
    List<String> values = Arrays.asList(allowed);
    Function<String, String> p =
        s ->
            values.stream()
                .filter(a -> a.equalsIgnoreCase(s))
                .findFirst()
                .orElseThrow(
                    () ->
                        new IllegalArgumentException(
                            flag
                                + " "
                                + s
                                + " is not allowed (allowed: "
                                + String.join(", ", values)
                                + ")"));
    return of(flag, env, def, description, String.class, p, null);
  }

  /** A whole number from {@code min} to {@code max}. */
  public static Setting<Integer> integer(
      String flag, String env, Integer def, int min, int max, String description) {
    Function<String, Integer> p = s -> (int) wholeNumber(s, min, max);
    return of(flag, env, def, description, Integer.class, p, null);
  }

  /** A whole number from {@code min} to {@code max}. */
  public static Setting<Long> longValue(
      String flag, String env, Long def, long min, long max, String description) {
    Function<String, Long> p = s -> wholeNumber(s, min, max);
    return of(flag, env, def, description, Long.class, p, null);
  }

  private static long wholeNumber(String s, long min, long max) {
    long v = parseLong(s);
    if (v < min || v > max) throw new IllegalArgumentException(range(min, max));
    return v;
  }

  /**
   * A byte count, {@code 536870912} or with a binary suffix {@code k}, {@code m}, {@code g}; at
   * least {@code min}.
   */
  public static Setting<Long> bytes(
      String flag, String env, Long def, long min, String description) {
    Function<String, Long> p =
        s -> {
          long v = parseBytes(s);
          if (v < min) throw new IllegalArgumentException("must be at least " + min + " bytes");
          return v;
        };
    return of(flag, env, def, description, Long.class, p, def == null ? null : bytesText(def));
  }

  /** A byte count that fits an int ({@code 20m} or {@code 20971520}), at least 1. */
  public static Setting<Integer> intBytes(String flag, String env, int def, String description) {
    Function<String, Integer> p =
        s -> {
          long v = parseBytes(s);
          if (v < 1 || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("must be from 1 to " + Integer.MAX_VALUE + " bytes");
          }
          return (int) v;
        };
    return of(flag, env, def, description, Integer.class, p, bytesText(def));
  }

  /**
   * A finite decimal number from {@code min} to {@code max} ({@code Double.POSITIVE_INFINITY}: no
   * upper bound).
   */
  public static Setting<Double> decimal(
      String flag, String env, Double def, double min, double max, String description) {
    String rule =
        "must be a number "
            + (max == Double.POSITIVE_INFINITY
                ? ">= " + decimalText(min)
                : "from " + decimalText(min) + " to " + decimalText(max));
    Function<String, Double> p =
        s -> {
          double v;
          try {
            v = Double.parseDouble(s);
          } catch (NumberFormatException e) {
            throw new IllegalArgumentException(rule);
          }
          if (!(v >= min && v <= max) || Double.isInfinite(v))
            throw new IllegalArgumentException(rule);
          return v;
        };
    return of(flag, env, def, description, Double.class, p, def == null ? null : decimalText(def));
  }

  /** {@code 20} for 20.0, {@code 1.25} for 1.25. */
  private static String decimalText(double v) {
    return v == Math.rint(v) && !Double.isInfinite(v)
        ? String.valueOf((long) v)
        : String.valueOf(v);
  }

  /** true/1/yes/on or false/0/no/off, any case. */
  public static Setting<Boolean> bool(String flag, String env, boolean def, String description) {
    return of(flag, env, def, description, Boolean.class, Setting::parseBool, null);
  }

  public static boolean parseBool(String s) {
    return switch (s.trim().toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes", "on" -> true;
      case "false", "0", "no", "off" -> false;
      default -> throw new IllegalArgumentException("must be true or false");
    };
  }

  /** "512m", "2g", "65536": bytes. */
  public static long parseBytes(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT);
    long unit = 1;
    if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
      unit =
          switch (t.charAt(t.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            default -> 1L << 30;
          };
      t = t.substring(0, t.length() - 1);
    }
    try {
      long v = Long.parseLong(t);
      if (v < 0) throw new NumberFormatException();
      return Math.multiplyExact(v, unit);
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException("must be a byte count such as 536870912, 512m or 2g");
    }
  }

  /** The shortest exact form of {@code bytes}: {@code 512m}, {@code 20m}, {@code 1000}. */
  public static String bytesText(long bytes) {
    if (bytes != 0 && bytes % (1L << 30) == 0) return (bytes >> 30) + "g";
    if (bytes != 0 && bytes % (1L << 20) == 0) return (bytes >> 20) + "m";
    if (bytes != 0 && bytes % (1L << 10) == 0) return (bytes >> 10) + "k";
    return Long.toString(bytes);
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("is not a whole number");
    }
  }

  private static String range(long min, long max) {
    if (max == Integer.MAX_VALUE || max == Long.MAX_VALUE) return "must be >= " + min;
    return "must be from " + min + " to " + max;
  }
}
