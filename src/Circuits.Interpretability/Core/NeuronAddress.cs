using System.Globalization;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Names a layer, a channel of a layer, or one channel at one spatial position: <c>mixed4a</c>,
/// <c>mixed4a:10</c>, <c>mixed4a:10@3,4</c> (row 3, column 4). Layer paths are module paths as
/// TorchSharp's <c>named_modules()</c> prints them. This is the only place such text is parsed.
/// </summary>
public readonly record struct NeuronAddress
{
    /// <summary>Creates an address; <paramref name="y"/> and <paramref name="x"/> need a channel and each other.</summary>
    /// <exception cref="InvalidAddressException">The layer is empty, an index is negative, or a position is given without a channel or half.</exception>
    public NeuronAddress(string layer, int? channel = null, int? y = null, int? x = null)
    {
        if (string.IsNullOrWhiteSpace(layer))
        {
            throw new InvalidAddressException("A layer path must not be empty; expected a module path such as 'mixed4a' or 'features.3'.");
        }

        if (channel < 0)
        {
            throw new InvalidAddressException($"Channel {channel} in '{layer}' is negative; expected a channel index of 0 or more.");
        }

        if ((y is null) != (x is null))
        {
            throw new InvalidAddressException($"A position in '{layer}' needs both y and x; got y={y?.ToString() ?? "none"}, x={x?.ToString() ?? "none"}.");
        }

        if (y is not null && channel is null)
        {
            throw new InvalidAddressException($"A position in '{layer}' needs a channel: write '{layer}:<channel>@{y},{x}'.");
        }

        if (y < 0 || x < 0)
        {
            throw new InvalidAddressException($"Position ({y},{x}) in '{layer}' is negative; expected row and column indices of 0 or more.");
        }

        Layer = layer;
        Channel = channel;
        Y = y;
        X = x;
    }

    /// <summary>The layer's module path.</summary>
    public string Layer { get; }

    /// <summary>The channel, or null for the whole layer.</summary>
    public int? Channel { get; }

    /// <summary>The row of the spatial position, or null for every position.</summary>
    public int? Y { get; }

    /// <summary>The column of the spatial position, or null for every position.</summary>
    public int? X { get; }

    /// <summary>True when the address names one spatial position.</summary>
    public bool HasPosition => Y is not null;

    /// <summary>Parses <c>layer</c>, <c>layer:channel</c> or <c>layer:channel@y,x</c>.</summary>
    /// <exception cref="InvalidAddressException">The text does not have one of those forms.</exception>
    public static NeuronAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        int colon = trimmed.LastIndexOf(':');
        int at = trimmed.IndexOf('@');
        if (colon < 0)
        {
            if (at >= 0)
            {
                throw new InvalidAddressException($"'{text}' has a position but no channel; expected 'layer:channel@y,x'.");
            }

            return new NeuronAddress(trimmed);
        }

        string layer = trimmed[..colon];
        string rest = trimmed[(colon + 1)..];
        string channelText = at > colon ? trimmed[(colon + 1)..at] : rest;
        if (at >= 0 && at < colon)
        {
            throw new InvalidAddressException($"'{text}' puts the position before the channel; expected 'layer:channel@y,x'.");
        }

        int channel = ParseIndex(channelText, "channel", text);
        if (at < 0)
        {
            return new NeuronAddress(layer, channel);
        }

        string[] position = trimmed[(at + 1)..].Split(',');
        if (position.Length != 2)
        {
            throw new InvalidAddressException($"'{text}' has a position that is not 'y,x'; expected 'layer:channel@y,x', for example 'mixed4a:10@3,4'.");
        }

        return new NeuronAddress(layer, channel, ParseIndex(position[0], "row", text), ParseIndex(position[1], "column", text));
    }

    /// <summary>Parses like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string text, out NeuronAddress address)
    {
        try
        {
            address = Parse(text);
            return true;
        }
        catch (InvalidAddressException)
        {
            address = default;
            return false;
        }
    }

    /// <summary>Parses a string, so that an address can be written as text wherever one is expected.</summary>
    public static implicit operator NeuronAddress(string text) => Parse(text);

    /// <summary>The canonical text form, which <see cref="Parse"/> reads back.</summary>
    public override string ToString() =>
        Channel is null ? Layer : HasPosition ? $"{Layer}:{Channel}@{Y},{X}" : $"{Layer}:{Channel}";

    private static int ParseIndex(string part, string what, string text)
    {
        if (!int.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int value))
        {
            throw new InvalidAddressException($"'{text}' has {what} '{part}', which is not a whole number of 0 or more; expected 'layer', 'layer:channel' or 'layer:channel@y,x'.");
        }

        return value;
    }
}
