using System.Security.Cryptography;
using System.Text;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Turns text such as a layer path (<c>mixed4a.conv_3x3</c>) or a neuron address (<c>mixed4a:10@3,4</c>)
/// into one file or folder name that is valid and means the same file on Linux, macOS and Windows.
/// </summary>
/// <remarks>
/// The rule, applied in this order:
/// <list type="number">
/// <item>Letters and digits (of any script), <c>.</c>, <c>-</c>, <c>_</c>, <c>+</c> and <c>=</c> are kept;
/// every other character (path separators, <c>:</c>, <c>@</c>, <c>,</c>, spaces, control characters,
/// <c>&lt;&gt;"|?*</c>, ...) becomes <c>_</c>. So <c>mixed4a:10@3,4</c> becomes <c>mixed4a_10_3_4</c> and
/// <c>features/3</c> becomes <c>features_3</c>; ordinary layer paths are unchanged.</item>
/// <item>A leading or trailing <c>.</c> becomes <c>_</c> (no hidden files, no names Windows would trim;
/// <c>.</c> and <c>..</c> become <c>_</c> and <c>__</c>). Empty text becomes <c>_</c>.</item>
/// <item>A name that Windows reserves for a device (<c>CON</c>, <c>PRN</c>, <c>AUX</c>, <c>NUL</c>,
/// <c>COM0</c>-<c>COM9</c>, <c>LPT0</c>-<c>LPT9</c>, in any case, with or without an extension) gets a
/// leading <c>_</c>.</item>
/// <item>A result longer than <see cref="MaxBytes"/> bytes in UTF-8 is cut at a character boundary and ends
/// with <c>-</c> and 8 hex digits of the SHA-256 of the original text, so long names stay distinct.</item>
/// </list>
/// The mapping is deterministic but not one-to-one (<c>a:1</c> and <c>a_1</c> give the same name); callers
/// that need distinct files for distinct inputs add a key of their own.
/// </remarks>
public static class SafeFileName
{
    /// <summary>The longest name returned, in UTF-8 bytes; it leaves room for prefixes and extensions under common 255-byte limits.</summary>
    public const int MaxBytes = 120;

    private static readonly HashSet<string> ReservedDeviceNames = new(
        new[] { "CON", "PRN", "AUX", "NUL" }
            .Concat(Enumerable.Range(0, 10).Select(i => $"COM{i}"))
            .Concat(Enumerable.Range(0, 10).Select(i => $"LPT{i}")),
        StringComparer.OrdinalIgnoreCase);

    /// <summary>Returns the file-name-safe form of <paramref name="text"/> (see the remarks for the rule).</summary>
    /// <param name="text">Any text; a layer path, a neuron address or a model name.</param>
    /// <returns>A non-empty name with no path separator, valid on Linux, macOS and Windows.</returns>
    public static string From(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var name = new StringBuilder(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
        {
            bool keep = Rune.IsLetterOrDigit(rune) || rune.Value is '.' or '-' or '_' or '+' or '=';
            if (keep)
            {
                name.Append(rune.ToString());
            }
            else
            {
                name.Append('_');
            }
        }

        if (name.Length == 0)
        {
            return "_";
        }

        if (name[0] == '.')
        {
            name[0] = '_';
        }

        if (name[^1] == '.')
        {
            name[^1] = '_';
        }

        string result = name.ToString();
        int dot = result.IndexOf('.', StringComparison.Ordinal);
        if (ReservedDeviceNames.Contains(dot < 0 ? result : result[..dot]))
        {
            result = "_" + result;
        }

        return Encoding.UTF8.GetByteCount(result) <= MaxBytes ? result : Shorten(result, text);
    }

    private static string Shorten(string name, string original)
    {
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(original)))[..8].ToLowerInvariant();
        int budget = MaxBytes - 1 - hash.Length;
        var kept = new StringBuilder();
        int bytes = 0;
        foreach (Rune rune in name.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > budget)
            {
                break;
            }

            kept.Append(rune.ToString());
            bytes += rune.Utf8SequenceLength;
        }

        return $"{kept}-{hash}";
    }
}
