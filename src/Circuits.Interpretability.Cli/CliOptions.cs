using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// Options whose values are checked while the command line is parsed: a value that does not parse, is out of its
/// range or is not one of the choices is a usage error (exit 2) whose message names only that option, the value
/// and what is valid, and nothing is loaded or written. The bounds are documented in docs/getting-started.md.
/// </summary>
internal static class CliOptions
{
    /// <summary>The largest image or input side the tool accepts, in pixels.</summary>
    public const int MaxPixels = 4096;

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max, string what, params string[] aliases) =>
        new(name, aliases)
        {
            Description = $"{description}. [range: {min} to {max}]",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result => ParseInt(result, name, min, max, what, odd: false) ?? defaultValue,
        };

    /// <summary>An optional whole number in [<paramref name="min"/>, <paramref name="max"/>] (null when not given); odd when <paramref name="odd"/>.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min, int max, string what, bool odd = false, params string[] aliases) =>
        new(name, aliases)
        {
            Description = $"{description}. [range: {(odd ? "odd, " : string.Empty)}{min} to {max}]",
            CustomParser = result => ParseInt(result, name, min, max, what, odd),
        };

    /// <summary>A finite number in (<paramref name="minExclusive"/>, <paramref name="max"/>].</summary>
    public static Option<double> Double(string name, string description, double defaultValue, double minExclusive, double max, string what) =>
        new(name)
        {
            Description = $"{description}. [range: more than {F(minExclusive)}, at most {F(max)}]",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0)
                {
                    return defaultValue;
                }

                string text = result.Tokens[0].Value;
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                {
                    result.AddError($"{name} '{text}' is not a finite number; expected {what} more than {F(minExclusive)} and at most {F(max)}.");
                    return defaultValue;
                }

                if (!(value > minExclusive && value <= max))
                {
                    result.AddError($"{name} {text} is out of range; expected {what} more than {F(minExclusive)} and at most {F(max)}.");
                }

                return value;
            },
        };

    /// <summary>One of <paramref name="choices"/> (compared ignoring case, returned in lower case); null when not given and there is no default.</summary>
    public static Option<string?> Choice(string name, string description, string? defaultValue, params string[] choices) =>
        new(name)
        {
            Description = $"{description}: {Or(choices)}.",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0)
                {
                    return defaultValue;
                }

                string text = result.Tokens[0].Value;
                string? match = choices.FirstOrDefault(c => string.Equals(c, text, StringComparison.OrdinalIgnoreCase));
                if (match is null)
                {
                    result.AddError($"{name} '{text}' is not known; expected {Or(choices)}.");
                }

                return match ?? defaultValue;
            },
        };

    /// <summary>"a, b or c".</summary>
    public static string Or(IReadOnlyList<string> items) =>
        items.Count <= 1 ? string.Concat(items) : $"{string.Join(", ", items.Take(items.Count - 1))} or {items[^1]}";

    private static int? ParseInt(ArgumentResult result, string name, int min, int max, string what, bool odd)
    {
        if (result.Tokens.Count == 0)
        {
            return null;
        }

        string text = result.Tokens[0].Value;
        string expected = $"expected {(odd ? "an odd" : "a whole")} number of {what} from {min} to {max}";
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
        {
            result.AddError($"{name} '{text}' is not a whole number; {expected}.");
            return null;
        }

        if (value < min || value > max)
        {
            result.AddError($"{name} {text} is out of range; {expected}.");
            return null;
        }

        if (odd && value % 2 == 0)
        {
            result.AddError($"{name} {text} is even; {expected} (a window centred on one position).");
            return null;
        }

        return (int)value;
    }

    private static string F(double value) => value.ToString("G", CultureInfo.InvariantCulture);
}
