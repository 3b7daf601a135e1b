namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>An image file of the site: its site path, size in pixels and caption.</summary>
internal sealed record ImageRef
{
    public string Path { get; init; } = string.Empty;

    public int Width { get; init; }

    public int Height { get; init; }

    public string Caption { get; init; } = string.Empty;
}

/// <summary>A unit's record (<c>data/LAYER/CCCC.json</c>): the parts that make its page. Written when every part exists.</summary>
internal sealed record UnitRecord
{
    public string Unit { get; init; } = string.Empty;

    /// <summary>The settings the parts were made with (<see cref="AtlasPlan.UnitFingerprint"/>); a record with another is stale.</summary>
    public string Fingerprint { get; init; } = string.Empty;

    public ImageRef Channel { get; init; } = new();

    public double? ChannelObjective { get; init; }

    public ImageRef Thumbnail { get; init; } = new();

    public ImageRef? Neuron { get; init; }

    public List<ImageRef> Diverse { get; init; } = new();

    /// <summary>Site path of the inputs part, or null for a first layer.</summary>
    public string? Inputs { get; init; }

    /// <summary>Site path of the outputs part, or null for a last layer.</summary>
    public string? Outputs { get; init; }

    public List<string> Tuning { get; init; } = new();

    public string? Examples { get; init; }
}

/// <summary>A unit's strongest inputs or outputs (<c>inputs-KEY.json</c>, <c>outputs-KEY.json</c>), the weight images beside it.</summary>
internal sealed record ConnectionsPart
{
    public string Direction { get; init; } = string.Empty;

    public string OtherLayer { get; init; } = string.Empty;

    public int CropSize { get; init; }

    public double MaxAbs { get; init; }

    public string Method { get; init; } = string.Empty;

    /// <summary>Why there are no connections (the path between the layers cannot be made linear), or null.</summary>
    public string? Unavailable { get; init; }

    public List<ConnectionItem> Items { get; init; } = new();
}

internal sealed record ConnectionItem
{
    public int Channel { get; init; }

    public double Strength { get; init; }

    public ImageRef Image { get; init; } = new();
}

/// <summary>A tuning curve (<c>tuning-KEY.json</c>).</summary>
internal sealed record TuningPart
{
    public string Neuron { get; init; } = string.Empty;

    public string Readout { get; init; } = string.Empty;

    public string Parameter { get; init; } = string.Empty;

    public string ParameterUnit { get; init; } = string.Empty;

    public List<double> Values { get; init; } = new();

    public List<double> Responses { get; init; } = new();

    public string Description { get; init; } = string.Empty;
}

/// <summary>Dataset examples (<c>examples-KEY.json</c>), the crops beside it.</summary>
internal sealed record ExamplesPart
{
    public string Folder { get; init; } = string.Empty;

    public int ImagesSearched { get; init; }

    public int Skipped { get; init; }

    public List<ExampleItem> Items { get; init; } = new();
}

internal sealed record ExampleItem
{
    public int Rank { get; init; }

    public string Path { get; init; } = string.Empty;

    public string FileLabel { get; init; } = string.Empty;

    public double Activation { get; init; }

    public int Y { get; init; }

    public int X { get; init; }

    public int Top { get; init; }

    public int Left { get; init; }

    public int Size { get; init; }

    public ImageRef Image { get; init; } = new();
}

/// <summary>What one shard did (<c>shards/I-of-N.json</c>).</summary>
internal sealed record ShardReport
{
    public string Shard { get; init; } = string.Empty;

    public int Units { get; init; }

    public int UnitsComputed { get; init; }

    public int Renders { get; init; }

    public double Seconds { get; init; }

    public double UnitsPerHour { get; init; }

    public string Fingerprint { get; init; } = string.Empty;
}
