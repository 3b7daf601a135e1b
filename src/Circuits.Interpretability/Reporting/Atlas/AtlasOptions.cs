using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>Settings of a neuron atlas. Every setting that changes a figure is part of that figure's content key.</summary>
public sealed record AtlasOptions
{
    /// <summary>The layers of the atlas, a subset of <see cref="AtlasModel.Layers"/> (null: all of them).</summary>
    public IReadOnlyList<string>? Layers { get; init; }

    /// <summary>The channels of some layers (for example only mixed3b 0 to 7); a layer not listed gets all its channels.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<int>>? Channels { get; init; }

    /// <summary>Optimization steps of every feature visualization. Default 256.</summary>
    public int Steps { get; init; } = 256;

    /// <summary>Side of every feature visualization in pixels. Default 128.</summary>
    public int ImageSize { get; init; } = 128;

    /// <summary>Adam's learning rate. Default 0.05.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>Seed of every render. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Units of one layer rendered together in one optimization (channel and neuron images). Default 8.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Transformations of the renders (null: <see cref="Transforms.Standard"/>; empty: none, for small models).</summary>
    public IReadOnlyList<IImageTransform>? Transforms { get; init; }

    /// <summary>Diverse feature visualizations per unit (the channel objective minus a diversity penalty over a batch of this many); 0 for none. Default 4.</summary>
    public int Diverse { get; init; } = 4;

    /// <summary>The weight of the diversity penalty (<see cref="Objectives.Diversity"/>); Lucid uses 100 on InceptionV1. Default 100.</summary>
    public double DiversityWeight { get; init; } = 100;

    /// <summary>Which image the thumbnails on the layer pages are cut from. Default <see cref="AtlasThumbnail.Neuron"/>.</summary>
    public AtlasThumbnail Thumbnail { get; init; } = AtlasThumbnail.Neuron;

    /// <summary>Side of the thumbnails on the layer pages, in pixels. Default 64.</summary>
    public int ThumbnailSize { get; init; } = 64;

    /// <summary>Side of each expanded weight's window (odd; the kernel size of the model's connections is a good choice). Default 5.</summary>
    public int CropSize { get; init; } = 5;

    /// <summary>Strongest inputs and outputs shown per unit. Default 6.</summary>
    public int Top { get; init; } = 6;

    /// <summary>A folder of images to search for each unit's dataset examples; null: none.</summary>
    public string? ImageFolder { get; init; }

    /// <summary>Dataset examples per unit. Default 8.</summary>
    public int ExampleCount { get; init; } = 8;

    /// <summary>The device renders run on; null: the model's.</summary>
    public Device? Device { get; init; }
}
