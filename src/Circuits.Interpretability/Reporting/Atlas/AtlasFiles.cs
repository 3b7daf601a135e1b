using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// Where an atlas keeps everything (paths relative to the site's folder, always with <c>/</c>), its content keys,
/// and the few ways it writes files: atomically, and pages only when their content changed.
/// </summary>
/// <remarks>
/// <code>
/// atlas.json                          the plan: layers, units, settings, fingerprint (every shard writes the same)
/// catalog/LAYER/CCCC-KEY.png|json     channel feature visualizations (the render catalog's files)
/// parts/LAYER/CCCC/KIND-KEY...        the other parts of a unit, each named by its own content key
/// data/LAYER/CCCC.json                a unit's record: which parts make it, written when all of them exist
/// shards/I-of-N.json                  what a shard did (units, time)
/// index.html, layers/LAYER.html, units/LAYER/C.html   the pages, written by the merge
/// </code>
/// </remarks>
internal static class AtlasFiles
{
    /// <summary>The version of the atlas's recipe (what is rendered and measured, and how); raise it when that changes, so that old parts are not reused.</summary>
    public const string RecipeVersion = "atlas-1";

    public const string PlanFile = "atlas.json";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The library's version (major.minor), part of every key: a new version of the code re-renders.</summary>
    public static string CodeVersion => typeof(AtlasFiles).Assembly.GetName().Version?.ToString(2) ?? "0.0";

    /// <summary>The first 16 hex digits of the SHA-256 of the parts joined with <c>|</c>.</summary>
    public static string Hash(params string[] parts) => Hash((IEnumerable<string>)parts);

    /// <inheritdoc cref="Hash(string[])"/>
    public static string Hash(IEnumerable<string> parts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("|", parts))), 0, 8).ToLowerInvariant();

    public static string Layer(string layer) => SafeFileName.From(layer);

    public static string Channel(int channel) => channel.ToString("D4", CultureInfo.InvariantCulture);

    public static string PartFolder(NeuronAddress unit) => $"parts/{Layer(unit.Layer)}/{Channel(unit.Channel!.Value)}";

    public static string RecordPath(NeuronAddress unit) => $"data/{Layer(unit.Layer)}/{Channel(unit.Channel!.Value)}.json";

    public static string UnitPage(NeuronAddress unit) => $"units/{Layer(unit.Layer)}/{unit.Channel!.Value.ToString(CultureInfo.InvariantCulture)}.html";

    public static string LayerPage(string layer) => $"layers/{Layer(layer)}.html";

    public static string ShardFile(AtlasShard shard) => string.Create(CultureInfo.InvariantCulture, $"shards/{shard.Index}-of-{shard.Count}.json");

    /// <summary>The full path of a site path.</summary>
    public static string Full(string root, string sitePath) => Path.Combine(root, sitePath.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>A site path as a path relative to <paramref name="sitePath"/>, path from a page at <paramref name="page"/> (both site paths): <c>../../parts/...</c>.</summary>
    public static string Url(string page, string sitePath)
    {
        int depth = page.Count(c => c == '/');
        string up = string.Concat(Enumerable.Repeat("../", depth));
        return up + string.Join("/", sitePath.Split('/').Select(Uri.EscapeDataString));
    }

    /// <summary>The site path of a full path under <paramref name="root"/>.</summary>
    public static string SitePath(string root, string full) => Path.GetRelativePath(root, full).Replace(Path.DirectorySeparatorChar, '/');

    public static bool Exists(string root, string sitePath) => File.Exists(Full(root, sitePath));

    public static void WriteJson<T>(string root, string sitePath, T value)
    {
        string full = Full(root, sitePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.WriteAllText(full, JsonSerializer.Serialize(value, Json) + "\n");
    }

    /// <summary>Reads a JSON file of the site, or null when it is missing or unreadable (a part is then made again).</summary>
    public static T? ReadJson<T>(string root, string sitePath)
        where T : class
    {
        string full = Full(root, sitePath);
        if (!File.Exists(full))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(full), Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static void WritePng(string root, string sitePath, byte[] png)
    {
        string full = Full(root, sitePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.WriteAllBytes(full, png);
    }

    /// <summary>Writes a page when its content differs from the file's (atomically); returns true when it wrote, and the page's size.</summary>
    public static (bool Written, long Bytes) WriteIfChanged(string root, string sitePath, string text)
    {
        string full = Full(root, sitePath);
        byte[] bytes = new UTF8Encoding(false).GetBytes(text);
        if (File.Exists(full) && new FileInfo(full).Length == bytes.Length && File.ReadAllBytes(full).AsSpan().SequenceEqual(bytes))
        {
            return (false, bytes.Length);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.WriteAllBytes(full, bytes);
        return (true, bytes.Length);
    }

    /// <summary>Width and height from a PNG file's header.</summary>
    public static (int Width, int Height) PngSize(string root, string sitePath)
    {
        using FileStream stream = File.OpenRead(Full(root, sitePath));
        Span<byte> header = stackalloc byte[24];
        stream.ReadExactly(header);
        return (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[16..20]), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[20..24]));
    }
}
