using System.Globalization;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Cli;

/// <summary>How the tool's built-in models are shown in an atlas: layers, input size, the tuning stimuli they have, what their units are by design, and default settings.</summary>
internal static class AtlasModels
{
    private static readonly CurveCircuitOptions Design = new();

    /// <summary>The atlas view of a loaded catalog model.</summary>
    public static AtlasModel For(ModelEntry entry, LoadedModel loaded)
    {
        IReadOnlyList<string> layers = entry.CatalogLayers ?? throw new ArgumentException($"Model '{entry.Name}' has no default layers for an atlas.");
        int input = entry.DefaultInputSize;
        var model = new AtlasModel(loaded.Model, loaded.Id, layers, input)
        {
            Title = entry.Name switch { "curve-circuit" => "CurveCircuit", "small-convnet" => "SmallConvNet", "inceptionv1" => "InceptionV1", _ => entry.Name },
            Description = $"{entry.Description}; weights: {loaded.WeightsSource}",
            Recipe = entry.CatalogRecipe,
            Preprocess = entry.Preprocess,
        };
        return entry.Name switch
        {
            "curve-circuit" => model with
            {
                UnitLabel = CurveLabel,
                Tuning = new[]
                {
                    new AtlasTuning(CurveCircuit.LinesLayer, CurveCircuit.LinesReluLayer,
                        StimulusSweep.Orientation(new LineStimulus { Width = input, Height = input, Length = 20 }, 5),
                        "a dark line 20 px long rotated in 5° steps, read at the centre position after the ReLU"),
                    new AtlasTuning(CurveCircuit.CurvesLayer, CurveCircuit.CurvesReluLayer,
                        StimulusSweep.Orientation(new CurveStimulus { Width = input, Height = input }, 5),
                        "a dark curve of radius 5 px spanning 150° rotated in 5° steps, read at the centre position after the ReLU"),
                },
            },
            "inceptionv1" => model with
            {
                Tuning = new[]
                {
                    new AtlasTuning("mixed3b", "mixed3b", StimulusSweep.Orientation(new CurveStimulus { Width = input, Height = input, Curvature = 0.05, ArcLength = 60, Thickness = 3 }, 10),
                        "a dark curve of radius 20 px rotated in 10° steps (the Curve Detectors article's stimulus), read at the centre position"),
                },
            },
            _ => model,
        };
    }

    /// <summary>
    /// Default settings for the model: small models render at their own size without transforms, in fewer steps, and with a
    /// diversity weight scaled to their activations (the curve circuit's channel means are about 0.02, where 0.01 keeps the
    /// diverse images on the unit's feature; 0.05 already washes them out; Lucid's 100 suits InceptionV1).
    /// </summary>
    public static AtlasOptions Options(ModelEntry entry) => entry.Name switch
    {
        "inceptionv1" => new AtlasOptions { ImageSize = 128, Steps = 256, Diverse = 4, CropSize = 5, DiversityWeight = 100 },
        "curve-circuit" => new AtlasOptions
        {
            ImageSize = entry.DefaultInputSize, Steps = 128, Diverse = 3, Transforms = Array.Empty<IImageTransform>(), CropSize = Design.CurveKernelSize, DiversityWeight = 0.01,
        },
        _ => new AtlasOptions { ImageSize = entry.DefaultInputSize, Steps = 128, Diverse = 3, Transforms = Array.Empty<IImageTransform>(), CropSize = 5, DiversityWeight = 0.1 },
    };

    private static string? CurveLabel(NeuronAddress unit) => unit.Channel switch
    {
        int c when unit.Layer == CurveCircuit.LinesLayer && c < Design.LineOrientations => $"line at {Degrees(c * 180.0 / Design.LineOrientations)}°",
        int c when unit.Layer == CurveCircuit.CurvesLayer && c < Design.CurveOrientations => $"curve, convex side at {Degrees(c * 360.0 / Design.CurveOrientations)}°",
        _ => null,
    };

    private static string Degrees(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
