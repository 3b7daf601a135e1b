using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Cli;

/// <summary>How the tool's built-in models are shown in an atlas: layers, input size, the tuning stimuli they have, what their units are by design, and default settings.</summary>
internal static class AtlasModels
{
    /// <summary>
    /// The atlas view of the session's model: the catalog layers as the chain (or <paramref name="chosen"/> when it names
    /// a layer outside them, or the model has none: a model of your own), the input size, and the stimuli it has.
    /// </summary>
    public static AtlasModel For(ModelSession session, IReadOnlyList<string> chosen)
    {
        ModelEntry entry = session.Entry;
        IReadOnlyList<string> chain = entry.CatalogLayers is { Count: > 0 } catalog && chosen.All(catalog.Contains) ? catalog : chosen;
        if (chain.Count == 0)
        {
            throw new UsageException($"Model '{entry.Name}' has no default layers for an atlas; name them with --layers, in the order data flows through them.");
        }

        foreach (string layer in chain)
        {
            session.ChannelCount(layer); // an unknown layer fails here, naming the nearest real ones
        }

        int input = session.InputSize;
        IReadOnlyList<AtlasTuning> tuning = entry.Name switch
        {
            "curve-circuit" => new[]
            {
                new AtlasTuning(CurveCircuit.LinesLayer, CurveCircuit.LinesReluLayer,
                    StimulusSweep.Orientation(new LineStimulus { Width = input, Height = input, Length = 20 }, 5),
                    "a dark line 20 px long rotated in 5° steps, read at the centre position after the ReLU"),
                new AtlasTuning(CurveCircuit.CurvesLayer, CurveCircuit.CurvesReluLayer,
                    StimulusSweep.Orientation(new CurveStimulus { Width = input, Height = input }, 5),
                    "a dark curve of radius 5 px spanning 150° rotated in 5° steps, read at the centre position after the ReLU"),
            },
            "inceptionv1" => new[]
            {
                new AtlasTuning("mixed3b", "mixed3b", StimulusSweep.Orientation(new CurveStimulus { Width = input, Height = input, Curvature = 0.05, ArcLength = 60, Thickness = 3 }, 10),
                    "a dark curve of radius 20 px rotated in 10° steps (the Curve Detectors article's stimulus), read at the centre position"),
            },
            _ => Array.Empty<AtlasTuning>(),
        };
        return new AtlasModel(session.Model, session.Loaded.Id, chain, input)
        {
            Title = entry.Name switch { "curve-circuit" => "CurveCircuit", "small-convnet" => "SmallConvNet", "inceptionv1" => "InceptionV1", _ => entry.Name },
            Description = $"{entry.Description}; weights: {session.Loaded.WeightsSource}",
            Recipe = entry.CatalogRecipe,
            Preprocess = entry.Preprocess,
            UnitLabel = entry.UnitLabel,
            Tuning = tuning.Where(t => chain.Contains(t.Layer)).ToList(),
        };
    }

    /// <summary>
    /// Default settings for the model: small models render at their own size without transforms, in fewer steps, and with a
    /// diversity weight scaled to their activations (the curve circuit's channel means are about 0.02, where 0.01 keeps the
    /// diverse images on the unit's feature; 0.05 already washes them out; Lucid's 100 suits InceptionV1).
    /// </summary>
    public static AtlasOptions Options(ModelSession session) => session.Entry.Name switch
    {
        "inceptionv1" => new AtlasOptions { ImageSize = 128, Steps = 256, Diverse = 4, CropSize = session.Entry.DefaultCrop, DiversityWeight = 100 },
        "curve-circuit" => new AtlasOptions
        {
            ImageSize = session.InputSize, Steps = 128, Diverse = 3, Transforms = Array.Empty<IImageTransform>(), CropSize = session.Entry.DefaultCrop, DiversityWeight = 0.01,
        },
        _ => new AtlasOptions
        {
            ImageSize = Math.Min(128, session.InputSize), Steps = 128, Diverse = 3, CropSize = session.Entry.DefaultCrop, DiversityWeight = 0.1,
            Transforms = session.InputSize >= 128 ? null : Array.Empty<IImageTransform>(),
        },
    };
}
